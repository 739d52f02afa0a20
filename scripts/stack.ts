// `pnpm stack [--dev] [--worker <model>]`: the database (embedded unless DATABASE_URL), migrations and
// seed, the three services on their ports, and optionally the model worker. Ctrl-C stops everything.
import { parseArgs } from 'node:util'
import { startStack } from './lib/stack.ts'

const { values } = parseArgs({ options: { dev: { type: 'boolean', default: false }, worker: { type: 'string', default: process.env.SYS2FT_WORKER_MODEL } } })
const say = (line: string) => console.log(`sys2ft: ${line}`)
let stack
try {
  stack = await startStack({ dev: values.dev, workerModel: values.worker, say })
} catch (err) {
  console.error(`sys2ft: ${(err as Error).message}`)
  process.exit(78)
}
say('ready. Ctrl-C stops the stack.')
let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping`)
    await stack.stop()
    process.exit(0)
  })
