// Every service shares the bootstrap: docs, health, auth, request ids and the error shape.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'

const services = { generation, training, evaluation }

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())

for (const [name, build] of Object.entries(services)) {
  t.test(`${name} service`, async (t) => {
    const app = await build(testConfig(tdb.url), { db: tdb.db, logger: false })
    t.teardown(() => app.close())

    const health = await app.inject({ url: '/healthz' })
    t.equal(health.statusCode, 200)
    t.same(health.json(), { status: 'ok', service: name })

    const ready = await app.inject({ url: '/readyz' })
    t.equal(ready.statusCode, 200, 'ready: database reachable, migrations current')
    t.equal(ready.json().migrations_current, true)

    const ui = await app.inject({ url: '/docs/' })
    t.equal(ui.statusCode, 200)
    t.match(ui.headers['content-type'], /text\/html/)
    t.match(ui.body, /swagger/i, 'Swagger UI page')
    const spec = await app.inject({ url: '/docs/json' })
    t.equal(spec.json().openapi, '3.1.0')
    t.ok(spec.json().paths['/healthz'], 'paths documented')

    const noKey = await app.inject({ url: '/cluster/status' })
    t.equal(noKey.statusCode, 401)
    t.match(noKey.headers['content-type'], /application\/problem\+json/)
    t.match(noKey.json(), { status: 401, code: 'unauthorized', title: 'Unauthorized' })
    t.equal(noKey.headers['www-authenticate'], 'Bearer')
    const wrongKey = await app.inject({ url: '/cluster/status', headers: { authorization: 'Bearer nope' } })
    t.equal(wrongKey.statusCode, 401)
    t.equal(wrongKey.json().detail, 'the API key is not valid')

    const missing = await app.inject({ url: '/no-such-thing', headers: { ...auth, 'x-request-id': 'req-abc.1' } })
    t.equal(missing.statusCode, 404)
    t.match(missing.json(), { code: 'not_found', status: 404, request_id: 'req-abc.1' })
    t.equal(missing.headers['x-request-id'], 'req-abc.1', 'request id echoed')

    const made = await app.inject({ url: '/healthz' })
    t.match(made.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request id is made when none is given')
    const hostile = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\twith spaces' } })
    t.not(hostile.headers['x-request-id'], 'bad id\twith spaces', 'an unsafe request id is replaced')
  })
}

t.test('a database that is behind on migrations is not ready', async (t) => {
  const empty = await createTestDatabase({ migrate: false })
  t.teardown(() => empty.drop())
  const app = await training(testConfig(empty.url), { db: empty.db, logger: false })
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.match(res.json(), { status: 'not_ready', database: true, migrations_current: false })
  t.ok(res.json().pending_migrations.length > 0)
})
