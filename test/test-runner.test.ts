import t from 'tap'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { answers, freePort, resolveTestServer } from '../scripts/lib/test-server.ts'

const repo = path.resolve(import.meta.dirname, '..')

/** This process's environment without what tap set for itself, so a nested tap run starts as a fresh one. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^_?TAP/.test(k) && k !== 'NODE_OPTIONS' && k !== 'SYS2FT_TEST_DATABASE_URL'))
  return { ...env, ...extra }
}

function runRunner(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', 'scripts/test-all.ts', ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })
}

t.test('with nothing answering at the probed address, the runner starts one embedded PostgreSQL for the run and stops it at the end', async (t) => {
  const closedPort = await freePort()
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sys2ft-runner-test-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  const seenFile = path.join(scratch, 'seen.json')
  const { code, out } = await runRunner(['tap', 'test/fixtures/test-server.fixture.ts'], cleanEnv({ SYS2FT_TEST_PG_PROBE: `127.0.0.1:${closedPort}`, SYS2FT_FIXTURE_OUT: seenFile }))
  t.equal(code, 0, 'the run passes')
  t.match(out, `nothing answers at 127.0.0.1:${closedPort}`)
  const m = /tests use an embedded PostgreSQL at 127\.0\.0\.1:(\d+) \(data in (.+)\)/.exec(out)
  t.ok(m, 'the runner says which server the tests use')
  if (!m) return
  const seen = JSON.parse(readFileSync(seenFile, 'utf8')) as { port: string; data_directory: string }
  t.equal(seen.port, m[1], 'the test file’s database lived on the embedded server')
  t.equal(seen.data_directory, m[2])
  t.match(out, /\n1 passed, 0 failed\n/, 'the fixture’s assert counted')
  t.notOk(await answers('127.0.0.1', Number(m[1])), 'the embedded server is stopped after the run')
  t.notOk(existsSync(m[2]!), 'its data directory is removed')
})

t.test('a server that answers at the probed address is used as is, and SYS2FT_TEST_DATABASE_URL wins over both', async (t) => {
  const listener = net.createServer((s) => s.destroy())
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
  t.teardown(() => listener.close())
  const { port } = listener.address() as net.AddressInfo
  const probed = await resolveTestServer({ SYS2FT_TEST_PG_PROBE: `127.0.0.1:${port}` })
  t.equal(probed.url, `postgres://postgres@127.0.0.1:${port}/postgres`)
  const given = await resolveTestServer({ SYS2FT_TEST_DATABASE_URL: 'postgres://u@db.example:6543/x', SYS2FT_TEST_PG_PROBE: `127.0.0.1:${port}` })
  t.equal(given.url, 'postgres://u@db.example:6543/x')
  await t.rejects(resolveTestServer({ SYS2FT_TEST_PG_PROBE: 'localhost' }), /host:port/)
})
