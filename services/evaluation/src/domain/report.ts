import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { invalid } from '@sys2ft/service-kit'
import type { ReportRunT, ReportT } from '../schemas/reports.ts'
import { budgetGroups } from './budgets.ts'
import { compareRuns, type RunOutcomes } from './compare.ts'
import { describeAdapters, runLabel, seriesOf } from './run-labels.ts'
import { currentSummary, primaryOf } from './runs.ts'
import { CLUSTERS, DEFAULT_BOOTSTRAP } from './stats.ts'

const MAX_RUNS = 50

/** The ids in `?runs=`, checked: 1 to 50, each an existing run (400 naming the query field otherwise). */
export async function reportRunIds(db: Kysely<Database>, param: string): Promise<string[]> {
  const ids = [...new Set(param.split(',').map((s) => s.trim()).filter(Boolean))]
  if (ids.length === 0 || ids.length > MAX_RUNS) throw invalid([{ path: '/querystring/runs', message: `must name 1 to ${MAX_RUNS} eval runs` }])
  const found = new Set((await db.selectFrom('eval_runs').select('id').where('id', 'in', ids).execute()).map((r) => r.id))
  const unknown = ids.filter((id) => !found.has(id))
  if (unknown.length) throw invalid([{ path: '/querystring/runs', message: `no eval run ${unknown.join(', ')}` }], `unknown eval run(s): ${unknown.join(', ')}`)
  return ids
}

/**
 * The report over some runs: each run's summary (with intervals, computed from its results if it is
 * not finished), and every comparison the runs allow, from paired cluster bootstraps (news items
 * resampled) over shared questions.
 */
export async function buildReport(db: Kysely<Database>, ids: string[]): Promise<ReportT> {
  const runs = await db.selectFrom('eval_runs').selectAll().where('id', 'in', ids).execute()
  runs.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id))
  const sets = new Map((await db.selectFrom('news_sets').select(['id', 'name', 'kind']).where('id', 'in', [...new Set(runs.map((r) => r.set_id))]).execute()).map((s) => [s.id, s]))
  const adapterIds = [...new Set(runs.map((r) => r.adapter_id).filter((a): a is string => a !== null))]
  const adapters = new Map(adapterIds.length ? (await db.selectFrom('adapters').select(['id', 'name', 'compute']).where('id', 'in', adapterIds).execute()).map((a) => [a.id, a]) : [])
  const training = await describeAdapters(db, adapterIds)
  const results = await db
    .selectFrom('eval_results as r')
    .innerJoin('questions as q', 'q.id', 'r.question_id')
    .select(['r.run_id', 'r.question_id', 'q.item_id', 'r.domain', 'r.type', 'r.correct'])
    .where('r.run_id', 'in', ids)
    .execute()

  const byRun = new Map<string, typeof results>()
  for (const r of results) {
    const list = byRun.get(r.run_id)
    if (list) list.push(r)
    else byRun.set(r.run_id, [r])
  }

  const seed = runs[0]!.options.seed
  const settings = { ...DEFAULT_BOOTSTRAP, seed }
  const models = new Set(runs.map((r) => r.model))
  const labels = new Map<string, number>()
  const reportRuns: ReportRunT[] = []
  const outcomes: RunOutcomes[] = []
  for (const run of runs) {
    const set = sets.get(run.set_id)!
    const adapter = run.adapter_id ? adapters.get(run.adapter_id) : undefined
    const flops = Number(adapter?.compute.flops)
    const trained = run.adapter_id ? (training.get(run.adapter_id) ?? null) : null
    let label = runLabel(run.mode, trained, adapter?.name ?? null, { ...(models.size > 1 ? { model: run.model } : {}), control: set.kind === 'control' })
    // two runs of one method (other seeds, other sets) stay distinguishable
    const seen = (labels.get(label) ?? 0) + 1
    labels.set(label, seen)
    if (seen > 1) label += ` #${seen}`
    reportRuns.push({
      id: run.id, label, model: run.model, adapter_id: run.adapter_id, adapter_name: adapter?.name ?? null, mode: run.mode, scoring: run.scoring, primary: primaryOf(run),
      set_id: run.set_id, set_name: set.name, set_kind: set.kind, state: run.state, compute_flops: Number.isFinite(flops) && flops > 0 ? flops : null,
      generation_flops: trained?.generation_tokens != null && adapter?.compute.total_params ? 2 * adapter.compute.total_params * trained.generation_tokens : null,
      training: trained, budget: null, series: seriesOf(run.mode, trained, run.model),
      summary: await currentSummary(db, run, { intervals: true }),
    })
    outcomes.push({
      id: run.id, model: run.model, mode: run.mode, scoring: run.scoring, primary: primaryOf(run), template: run.options.template_version,
      set_id: run.set_id, set_kind: set.kind, adapter_id: run.adapter_id,
      outcomes: new Map((byRun.get(run.id) ?? []).map((r) => [r.question_id, { correct: r.correct, domain: r.domain, type: r.type, cluster: r.item_id ?? r.question_id }])),
    })
  }
  const { comparisons, notes } = compareRuns(outcomes, settings)
  const budgets = budgetGroups(reportRuns, outcomes, settings)
  for (const run of reportRuns) run.budget = budgets.budgets.get(run.id) ?? null
  const domains = [...new Set(reportRuns.flatMap((r) => Object.keys(r.summary?.by_domain ?? {})))].sort()
  return { object: 'report', generated_at: new Date().toISOString(), bootstrap: { ...settings, resampled: CLUSTERS }, domains, runs: reportRuns, comparisons, budget_groups: budgets.groups, notes: [...notes, ...budgets.notes] }
}
