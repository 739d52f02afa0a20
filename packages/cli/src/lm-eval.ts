import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NewsSetsApi } from './api.ts'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const lmEvalBin = path.join(repoRoot, 'infra/lmeval/.venv/bin/lm_eval')

export interface LmEvalOptions {
  set: string
  mode: 'base' | 'icl' | 'ft' | 'ft_icl'
  modelDir: string
  adapterDir?: string
  out: string
  seed: number
  answerPrefix?: string
  batchSize: number
}

/**
 * Exports a set as lm-eval tasks (the product's exact prompt) into `out` and runs lm_eval on them:
 * `ft`/`ft_icl` are the `base`/`icl` tasks with the adapter through lm-eval's `peft=`. Returns the
 * lm_eval exit code.
 */
export async function runLmEval(api: NewsSetsApi, o: LmEvalOptions): Promise<number> {
  const withAdapter = o.mode === 'ft' || o.mode === 'ft_icl'
  if (withAdapter !== Boolean(o.adapterDir)) throw new Error(withAdapter ? `mode ${o.mode} needs --adapter-dir` : `--adapter-dir applies to ft and ft_icl only`)
  if (!existsSync(lmEvalBin)) throw new Error(`${lmEvalBin} is missing: run ./sys2ft setup`)
  const set = await api.resolve(o.set)
  const dir = path.resolve(o.out)
  mkdirSync(dir, { recursive: true })
  const taskMode = o.mode === 'ft' ? 'base' : o.mode === 'ft_icl' ? 'icl' : o.mode
  const exp = await api.lmEvalExport(set.id, { modes: [taskMode], seed: o.seed, dir, ...(o.answerPrefix !== undefined && { answer_prefix: o.answerPrefix }) })
  for (const f of exp.files) writeFileSync(path.join(dir, f.path), f.content)
  console.error(`wrote ${exp.files.length} files for ${exp.questions} questions of ${set.name} to ${dir}`)
  const modelArgs = `pretrained=${path.resolve(o.modelDir)},dtype=float32${o.adapterDir ? `,peft=${path.resolve(o.adapterDir)}` : ''}`
  const args = ['--model', 'hf', '--model_args', modelArgs, '--tasks', exp.tasks.map((t) => t.name).join(','), '--include_path', dir, '--apply_chat_template', '--log_samples', '--output_path', path.join(dir, 'results'), '--batch_size', String(o.batchSize)]
  console.error(`lm_eval ${args.join(' ')}`)
  const env = { ...process.env, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' }
  return spawnSync(lmEvalBin, args, { stdio: 'inherit', env }).status ?? 1
}
