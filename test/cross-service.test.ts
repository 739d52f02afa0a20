// The three services on real ports: one request id follows a call from one service to the others.
import t from 'tap'
import axios from 'axios'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())

t.test('each service reaches the others over HTTP, forwarding the request id and the service key', async (t) => {
  const config = testConfig(tdb.url)
  const apps = { generation: await generation(config, { logger: false }), training: await training(config, { logger: false }), evaluation: await evaluation(config, { logger: false }) }
  t.teardown(() => Promise.all(Object.values(apps).map((a) => a.close())))
  for (const [name, app] of Object.entries(apps)) {
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    config.urls[name as keyof typeof apps] = address // the peers' addresses are known once they listen
  }

  const res = await axios.get(`${config.urls.evaluation}/cluster/status`, { headers: { ...auth, 'x-request-id': 'trace-42' } })
  t.equal(res.status, 200)
  t.equal(res.headers['x-request-id'], 'trace-42')
  const peers = Object.fromEntries(res.data.peers.map((p: { name: string }) => [p.name, p]))
  for (const name of ['generation', 'training']) {
    t.match(peers[name], { ready: true, status_code: 200, request_id: 'trace-42' }, `${name} answered with the forwarded request id`)
  }
  t.match(peers.worker, { ready: false, status_code: null }, 'no worker running: reported, not thrown')
  t.type(peers.worker.error, 'string')

  // The service key alone opens the other services (as used by service-to-service calls).
  const viaServiceKey = await axios.get(`${config.urls.training}/cluster/status`, { headers: { authorization: `Bearer ${config.serviceKey}` }, validateStatus: () => true })
  t.equal(viaServiceKey.status, 200)
})
