// Idempotency-Key: a key left pending by an instance that died mid-request is taken over after its
// lease (before: every retry got 409 for 24 h and nothing was created), and keys are scoped per API
// key (before: two clients choosing the same key shared one answer).
import { createHash } from 'node:crypto'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { TEST_KEY, auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as training } from '@sys2ft/training'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const OTHER_KEY = 'another-client-key'
const app = await training(testConfig(tdb.url, { apiKeys: [TEST_KEY, OTHER_KEY] }), { db: tdb.db, logger: false })
t.teardown(() => app.close())

const register = (idemKey: string, headers: Record<string, string> = auth, url = 'http://127.0.0.1:9') =>
  app.inject({ method: 'POST', url: '/workers', headers: { ...headers, 'idempotency-key': idemKey }, payload: { name: `w-${new URL(url).port}`, url, labels: {} } })
const principal = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 16)
const workers = async () => (await tdb.db.selectFrom('workers').select('id').execute()).length

t.test('a pending key whose instance died is taken over after the lease; a live one answers 409 with Retry-After', async (t) => {
  const first = await register('dead-instance')
  t.ok([200, 201, 202].includes(first.statusCode), first.body)
  // pretend the request that stored this key is still pending on an instance that died 2 minutes ago
  await tdb.db.updateTable('idempotency_keys').set({ status_code: 0, response_body: JSON.stringify(null), updated_at: new Date(Date.now() - 120_000) })
    .where('key', '=', `${principal(TEST_KEY)}:dead-instance`).execute()
  await tdb.db.deleteFrom('workers').execute()
  const retry = await register('dead-instance')
  t.ok([200, 201, 202].includes(retry.statusCode), `the retry is served: ${retry.statusCode} ${retry.body.slice(0, 200)}`)
  t.equal(await workers(), 1, 'and did the work once')
  t.notOk(retry.headers['idempotent-replayed'])

  await tdb.db.updateTable('idempotency_keys').set({ status_code: 0, updated_at: new Date() }).where('key', '=', `${principal(TEST_KEY)}:dead-instance`).execute()
  const busy = await register('dead-instance')
  t.equal(busy.statusCode, 409)
  t.equal(busy.json().code, 'idempotency_in_progress')
  t.ok(Number(busy.headers['retry-after']) > 0, 'says when to retry')
})

t.test('the same key from two API keys: two answers, not one shared', async (t) => {
  await tdb.db.deleteFrom('workers').execute()
  const mine = await register('shared-name', auth, 'http://127.0.0.1:7')
  const theirs = await register('shared-name', { authorization: `Bearer ${OTHER_KEY}` }, 'http://127.0.0.1:8')
  t.ok([200, 201, 202].includes(mine.statusCode) && [200, 201, 202].includes(theirs.statusCode), `${mine.statusCode} ${theirs.statusCode}`)
  t.notOk(theirs.headers['idempotent-replayed'], 'the other client’s request was not answered with mine')
  t.not(mine.json().id, theirs.json().id)
  const replay = await register('shared-name', auth, 'http://127.0.0.1:7')
  t.equal(replay.headers['idempotent-replayed'], 'true', 'each client still gets its own replay')
  t.equal(replay.json().id, mine.json().id)
})
