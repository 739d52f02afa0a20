// The Helm chart (infra/helm/sys2ft), rendered by Helm's own engine and validated (infra/helm/check.py
// in its venv, infra/helm/setup.sh; ./sys2ft test sets it up): the default values and every values
// file in infra/helm/ci render, pass `helm lint --strict` and values.schema.json, and every manifest
// validates against the Kubernetes schemas (1.29 and 1.37, strict) or the vendored CRD schemas
// (KubeRay RayCluster, Kueue LocalQueue, CloudNativePG Cluster). The environment the chart gives each
// service is then read by the services' own configuration loaders. Broken manifests, values and
// templates must fail, naming what is wrong.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { stringify } from 'yaml'
import { loadConfig } from '@sys2ft/service-kit'
import { loadTrainingSettings } from '@sys2ft/training'

const repo = path.resolve(import.meta.dirname, '..')
const python = path.join(repo, 'infra/helm/.venv/bin/python')
const check = path.join(repo, 'infra/helm/check.py')
const ciValues = readdirSync(path.join(repo, 'infra/helm/ci')).filter((f) => f.endsWith('.yaml')).sort().map((f) => `infra/helm/ci/${f}`)
const tmp = mkdtempSync(path.join(tmpdir(), 'sys2ft-helm-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

interface Result { values?: string; manifest?: string; manifests: number; kinds?: Record<string, number>; errors: string[]; dump?: string; versions: Record<string, unknown> }
type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, any> }

function runCheck(args: string[]): { code: number | null; results: Result[]; stderr: string } {
  const r = spawnSync(python, [check, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000 })
  const results = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Result)
  return { code: r.status, results, stderr: r.stderr }
}

t.test('the chart check is set up', async (t) => {
  t.ok(existsSync(python), `${python} (infra/helm/setup.sh; ./sys2ft test runs it)`)
})

const skip = !existsSync(python)
const dumpDir = path.join(tmp, 'dump')
const good = skip ? null : runCheck([...ciValues.flatMap((f) => ['--values', f]), '--dump', dumpDir])

t.test('defaults and every CI values file render, lint and validate', { skip }, async (t) => {
  const { code, results, stderr } = good!
  t.equal(code, 0, code === 0 ? 'check.py passed' : JSON.stringify(results.map((r) => r.errors), null, 1) + stderr.slice(-2000))
  t.same(results.map((r) => r.values), ['defaults', ...ciValues])
  for (const r of results) {
    t.same(r.errors, [], `${r.values}: no error`)
    t.ok(r.manifests >= 8, `${r.values}: ${r.manifests} manifests`)
  }
  t.comment(`helm SDK ${results[0]?.versions.helm_sdk}, kubernetes ${(results[0]?.versions.kube as string[]).join(', ')}`)
  const kinds = (name: string) => Object.keys(results.find((r) => r.values!.endsWith(name))!.kinds!)
  t.match(kinds('defaults'), ['apps/v1 Deployment', 'apps/v1 StatefulSet', 'v1 PersistentVolumeClaim', 'v1 Secret', 'v1 Service'], 'defaults: HTTP workers, no operator needed')
  t.notOk(kinds('defaults').some((k) => /ray\.io|kueue|cnpg/.test(k)), 'defaults: no custom resource')
  for (const k of ['ray.io/v1 RayCluster', 'kueue.x-k8s.io/v1beta1 LocalQueue', 'postgresql.cnpg.io/v1 Cluster']) t.ok(kinds('all-enabled.yaml').includes(k), `all-enabled: ${k}`)
  t.ok(kinds('ray-kueue-v1beta2.yaml').includes('kueue.x-k8s.io/v1beta2 LocalQueue'))
})

function docs(name: string): Doc[] {
  return JSON.parse(readFileSync(path.join(dumpDir, `${name}.json`), 'utf8')) as Doc[]
}
// JSON documents (JSON is YAML): a YAML 1.2 writer leaves `on` bare, which PyYAML (YAML 1.1) reads as true
const yamlStream = (list: object[]) => list.map((d) => JSON.stringify(d)).join('\n---\n')
const find = (list: Doc[], kind: string, suffix: string) => list.find((d) => d.kind === kind && d.metadata.name.endsWith(suffix))!

/** A container's environment as the kubelet would give it: Secrets read as placeholders, $(VAR) expanded. */
function podEnv(container: { env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[] }): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env) {
    const raw = e.value ?? `secret:${e.valueFrom!.secretKeyRef.name}/${e.valueFrom!.secretKeyRef.key}`
    env[e.name] = raw.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m)
  }
  return env
}

t.test("each service's environment is accepted by its own configuration loader", { skip }, async (t) => {
  for (const name of ['defaults', 'all-enabled', 'http-workers', 'ray-kueue-v1beta2', 'external-workers']) {
    const list = docs(name)
    for (const service of ['generation', 'training', 'evaluation']) {
      const dep = find(list, 'Deployment', `-${service}`)
      const env = podEnv(dep.spec.template.spec.containers[0])
      const config = loadConfig(env)
      t.equal(config.host, '0.0.0.0', `${name}/${service}: listens on every interface`)
      t.equal(config.ports[service as 'generation'], dep.spec.template.spec.containers[0].ports[0].containerPort)
      t.match(config.databaseUrl, /^secret:.+\/.+/, `${name}/${service}: DATABASE_URL from a Secret`)
      for (const peer of ['generation', 'training', 'evaluation'] as const) {
        const svc = find(list, 'Service', `-${peer}`)
        t.equal(config.urls[peer], `http://${svc.metadata.name}:${svc.spec.ports[0].port}`, `${name}/${service} reaches ${peer} by its Service`)
      }
      if (service !== 'training') continue
      const settings = loadTrainingSettings(config, env)
      const workerKey = env.SYS2FT_WORKER_API_KEY
      t.ok(settings.workers.every((w) => w.api_key === workerKey), `${name}: every training worker gets the worker key`)
      if (name === 'http-workers') {
        t.same(settings.workers.map((w) => w.name), ['default', 'worker-1', 'worker-2', 'worker-3'], 'one training worker per pod; the load-balanced URL is not one')
        const sts = find(list, 'StatefulSet', '-worker')
        const headless = list.find((d) => d.kind === 'Service' && d.spec.clusterIP === 'None')!
        t.equal(sts.spec.serviceName, headless.metadata.name)
        t.same(settings.workers.map((w) => w.url), [0, 1, 2, 3].map((i) => `http://${sts.metadata.name}-${i}.${headless.metadata.name}.sys2ft.svc:8000`))
        t.equal(config.urls.worker, `http://${sts.metadata.name}:8000`, 'generation and evaluation call the Service over all worker pods')
      }
      if (name === 'external-workers') t.same(settings.workers.map((w) => w.name), ['default', 'gpu-box-2', 'gpu-box-3'])
      if (name.startsWith('ray') || name === 'all-enabled') {
        const rc = find(list, 'RayCluster', '-ray')
        const head = rc.spec.headGroupSpec.template
        const [ray, launcher] = head.spec.containers
        const gcs = ray.ports.find((p: any) => p.name === 'gcs-server').containerPort
        t.equal(env.SYS2FT_RAY_ADDRESS, `${rc.metadata.name}-head-svc.sys2ft.svc:${gcs}`, `${name}: the head's GCS address (KubeRay's head Service), no ray:// Ray Client`)
        t.notOk(list.some((d) => d.kind === 'Deployment' && d.metadata.name.endsWith('-ray-pool')), `${name}: no launcher outside the Ray nodes`)
        t.equal(ray.name, 'ray-head', "container 0 is KubeRay's Ray container")
        t.equal(launcher.name, 'launcher', 'the launcher is a container of the head pod: a driver on a Ray node')
        t.same(launcher.command.slice(0, 2), ['/bin/sh', '-c'])
        t.match(launcher.command[2], /^until \[ -e \/tmp\/ray\/ray_current_cluster \]; do sleep 1; done; exec python3 -m sys2ft_worker\.ray_pool "\$@"$/, 'it waits for the head, then execs the launcher with its args')
        const arg = (flag: string) => launcher.args[launcher.args.indexOf(flag) + 1]
        t.equal(arg('--address'), 'auto', "the launcher joins the head it runs beside (/tmp/ray/ray_current_cluster)")
        t.equal(arg('--num-gpus'), '1')
        t.equal(arg('--adapter-dir'), '/data/adapters')
        const tmpRay = (c: any) => c.volumeMounts.find((m: any) => m.mountPath === '/tmp/ray')?.name
        t.equal(tmpRay(ray), 'ray-logs', "/tmp/ray of the head is the volume KubeRay's autoscaler sidecar mounts by name")
        t.equal(tmpRay(launcher), 'ray-logs', 'the launcher sees the raylet sockets under the same /tmp/ray')
        t.ok(head.spec.volumes.find((v: any) => v.name === 'ray-logs').emptyDir, 'an emptyDir')
        const pool = find(list, 'Service', '-ray-pool')
        t.equal(env.SYS2FT_RAY_POOL_URL, `http://${pool.metadata.name}:${pool.spec.ports[0].port}`, `${name}: the launcher's Service`)
        t.ok(Object.entries(pool.spec.selector).every(([k, v]) => head.metadata.labels[k] === v), "the launcher's Service selects the head pod")
        const port = launcher.ports.find((p: any) => p.name === pool.spec.ports[0].targetPort)
        t.ok(port, "its targetPort names the launcher's port")
        t.equal(arg('--port'), String(port.containerPort))
        t.notOk(ray.ports.some((p: any) => p.containerPort === port.containerPort), "the head's own ports do not collide with it")
      }
    }
  }
})

t.test('the RayCluster: one GPU per worker pod, autoscaling bounds, placement, shared adapters, Kueue', { skip }, async (t) => {
  const list = docs('all-enabled')
  const rc = find(list, 'RayCluster', '-ray')
  const group = rc.spec.workerGroupSpecs[0]
  t.match(group, { groupName: 'h200', minReplicas: 1, maxReplicas: 64, replicas: 8 })
  t.equal(group.rayStartParams['num-gpus'], '1')
  t.same(JSON.parse(JSON.parse(group.rayStartParams.resources)), { 'sys2ft-model-Qwen--Qwen2.5-7B-Instruct': 1 }, "one unit of the model's custom resource per pod")
  const pod = group.template.spec
  t.equal(pod.containers[0].resources.limits['nvidia.com/gpu'], 1)
  t.same(pod.nodeSelector, { 'nvidia.com/gpu.product': 'NVIDIA-H200' })
  t.equal(pod.tolerations.length, 2)
  t.equal(rc.spec.enableInTreeAutoscaling, true)
  t.equal(rc.metadata.labels['kueue.x-k8s.io/queue-name'], find(list, 'LocalQueue', 'sys2ft-gpu').metadata.name)
  t.equal((rc.metadata as any).annotations['kueue.x-k8s.io/elastic-job'], 'true', 'autoscaling under Kueue: an elastic workload')
  const claim = pod.volumes.find((v: any) => v.name === 'adapters').persistentVolumeClaim.claimName
  const pvc = find(list, 'PersistentVolumeClaim', '-adapters')
  t.equal(claim, pvc.metadata.name)
  t.same(pvc.spec.accessModes, ['ReadWriteMany'])
  t.equal(pvc.spec.storageClassName, 'nfs-rwx')
  t.equal(find(list, 'Deployment', '-training').spec.template.spec.containers[0].env.find((e: any) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef.name, `${find(list, 'Cluster', '-pg').metadata.name}-app`, 'DATABASE_URL from the CNPG app Secret')
  const fixed = find(docs('ray-kueue-v1beta2'), 'RayCluster', '-ray')
  t.notOk((fixed.metadata as any).annotations?.['kueue.x-k8s.io/elastic-job'], 'a fixed-size RayCluster is not elastic')
})

t.test('broken manifests fail, naming the field', { skip }, async (t) => {
  const list = docs('all-enabled')
  const dep = structuredClone(find(list, 'Deployment', '-generation'))
  dep.spec.replicas = 'two'
  dep.spec.template.spec.containers[0].ports[0].containerPort = '3001'
  delete dep.spec.template.spec.containers[0].name
  const rc = structuredClone(find(list, 'RayCluster', '-ray'))
  delete rc.spec.workerGroupSpecs[0].maxReplicas
  rc.spec.workerGroupSpecs[0].gpusPerPod = 1
  rc.spec.headGroupSpec.rayStartParams['num-cpus'] = 0
  const lq = structuredClone(find(list, 'LocalQueue', 'sys2ft-gpu'))
  lq.spec.clusterQueue = 5
  const pg = structuredClone(find(list, 'Cluster', '-pg'))
  pg.spec.instances = 0
  const svc = structuredClone(find(list, 'Service', '-evaluation'))
  svc.metadata.name = 'Evaluation_Service'
  svc.spec.ports = 'http'
  const file = path.join(tmp, 'broken.yaml')
  writeFileSync(file, yamlStream([dep, rc, lq, pg, svc]))
  const { code, results } = runCheck(['--manifest', file])
  t.equal(code, 1, 'check.py fails')
  const errors = results[0]!.errors.join('\n')
  for (const expected of [
    /Deployment .*generation: Kubernetes 1\.29\.0: spec\/replicas: 'two' is not of type 'integer'/,
    /Kubernetes 1\.37\.0: spec\/template\/spec\/containers\/0\/ports\/0\/containerPort: '3001' is not of type 'integer'/,
    /spec\/template\/spec\/containers\/0: 'name' is a required property/,
    /RayCluster .*: spec\/workerGroupSpecs\/0: 'maxReplicas' is a required property/,
    /RayCluster .*: spec\/workerGroupSpecs\/0: Additional properties are not allowed \('gpusPerPod' was unexpected\)/,
    /RayCluster .*: spec\/headGroupSpec\/rayStartParams\/num-cpus: 0 is not of type 'string'/,
    /LocalQueue sys2ft-gpu: spec\/clusterQueue: 5 is not of type 'string'/,
    /Cluster .*-pg: spec\/instances: 0 is less than the minimum of 1/,
    /Service Evaluation_Service: metadata\/name: 'Evaluation_Service' is not a valid Service name/,
    /Service Evaluation_Service: Kubernetes 1\.29\.0: spec\/ports: 'http' is not of type 'array'/,
  ]) t.match(errors, expected)
  // and the same objects unbroken pass
  const fine = path.join(tmp, 'fine.yaml')
  writeFileSync(fine, yamlStream(list))
  t.equal(runCheck(['--manifest', fine]).code, 0, 'the rendered objects themselves pass')
})

t.test('bad values and a broken template fail before anything is applied', { skip }, async (t) => {
  const cases: [string, object, RegExp][] = [
    ['unknown backend', { workers: { backend: 'slurm' } }, /\/workers\/backend': value must be one of 'http', 'ray', 'external'/],
    ['a key the chart does not have', { workers: { gpus: 2 } }, /\/workers': additional properties 'gpus' not allowed/],
    ['a worker key that would break SYS2FT_WORKERS', { auth: { workerApiKey: 'a"b' } }, /\/auth\/workerApiKey/],
    ['autoscaling bounds the wrong way round', { workers: { backend: 'ray', ray: { gpuGroup: { groupName: 'gpu', minReplicas: 4, maxReplicas: 2, replicas: 4 } } } }, /minReplicas <= replicas <= maxReplicas/],
    ['Kueue without the RayCluster', { kueue: { enabled: true } }, /kueue\.enabled queues the RayCluster/],
    ['more actors than GPU pods', { workers: { backend: 'ray', ray: { launcher: { actors: 9, port: 8100 } } } }, /workers\.ray\.launcher\.actors: at most workers\.ray\.gpuGroup\.maxReplicas/],
    ['CNPG and a URL at once', { postgres: { url: 'postgres://x@db/sys2ft', cnpg: { enabled: true } } }, /give one of postgres\.cnpg\.enabled, postgres\.url or postgres\.existingSecret/],
  ]
  const files = cases.map(([what, values]) => {
    const file = path.join(tmp, `values-${what.replace(/\W+/g, '-')}.yaml`)
    writeFileSync(file, stringify(values))
    return file
  })
  const { code, results } = runCheck(['--no-defaults', ...files.flatMap((f) => ['--values', f])])
  t.equal(code, 1, 'check.py fails')
  cases.forEach(([what, , expected], i) => {
    t.equal(results[i]!.values, files[i])
    t.match(results[i]!.errors.join('\n'), expected, what)
  })
  const chart = path.join(tmp, 'chart')
  cpSync(path.join(repo, 'infra/helm/sys2ft'), chart, { recursive: true })
  const tpl = path.join(chart, 'templates/workers-http.yaml')
  writeFileSync(tpl, readFileSync(tpl, 'utf8').replace('include "sys2ft.workerEnv" .', 'include "sys2ft.workerEnvironment" .'))
  const broken = runCheck(['--chart', chart])
  t.equal(broken.code, 1, 'a template that calls a missing helper fails')
  t.match(broken.results[0]!.errors.join('\n'), /no template "sys2ft\.workerEnvironment"/)
})
