// Schema fuzzing: schemathesis against each service's live OpenAPI document, with auth, a bounded
// number of examples per operation and every check but one: 0 server errors, 0 responses outside
// the documented statuses, content types and schemas, 401 without a valid key. Left out:
// `positive_data_acceptance` (a schema-valid request may still be refused on purpose: an id that
// does not exist, a name taken, a worker that serves another model).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { loadBuiltin } from '@sys2ft/dataset'
import { TEST_KEY, auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'

const repo = path.resolve(import.meta.dirname, '..')
const schemathesis = path.join(repo, 'infra/fuzz/.venv/bin/schemathesis')
const EXAMPLES = Number(process.env.SYS2FT_FUZZ_EXAMPLES ?? 10)

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const cfg = testConfig(tdb.url)
const apps = { generation: await generation(cfg, { db: tdb.db, logger: false }), training: await training(cfg, { db: tdb.db, logger: false }), evaluation: await evaluation(cfg, { db: tdb.db, logger: false }) }
t.teardown(() => Promise.all(Object.values(apps).map((a) => a.close())))
// something to find: a news set (two items) for the routes that take ids
await apps.generation.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'fuzz', items: loadBuiltin().news.slice(0, 2) } })

function fuzz(url: string): Promise<{ code: number | null; out: string }> {
  const args = ['run', `${url}/docs/json`, '-H', `Authorization: Bearer ${TEST_KEY}`, '-n', String(EXAMPLES), '--seed', '1',
    '--checks', 'all', '--exclude-checks', 'positive_data_acceptance', '--phases', 'examples,fuzzing', '--no-color']
  return new Promise((resolve) => {
    const child = spawn(schemathesis, args, { cwd: repo, env: { ...process.env, SCHEMATHESIS_HOOKS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })
}

t.test('schemathesis is set up', async (t) => {
  t.ok(existsSync(schemathesis), `${schemathesis} (infra/fuzz/setup.sh; ./sys2ft test runs it)`)
})

for (const [name, app] of Object.entries(apps)) {
  t.test(`${name}: no server error, nothing outside the document`, { skip: !existsSync(schemathesis) }, async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const { code, out } = await fuzz(url)
    const counts = /(\d+) generated, (?:(\d+) found (\d+) unique failures?|(\d+) passed)/.exec(out)
    t.comment(`${name}: ${counts?.[0] ?? 'no summary'}`)
    t.ok(counts, 'schemathesis printed its summary')
    t.equal(code, 0, code === 0 ? 'no failure' : out.slice(-6000))
  })
}
