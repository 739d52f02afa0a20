// Reports over real runs on the real worker: comparisons (gap, gap closed, overexposure, forgetting),
// CSV, and the HTML page loaded in headless Chromium (charts drawn, no console errors, no network, text escaped).
import t from 'tap'
import { chromium } from 'playwright-core'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { startWorker } from '@sys2ft/worker-client/testing'
import { MODEL, seedControlSet, seedNewsSet, someControl, someNews, startService, trainAdapter, until } from './fixtures.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const items = someNews(1)
// a hostile set name: everything from the database is text in the page, never markup
const nasty = '<img src=x onerror="window.__xss=1">news'
const newsSet = await seedNewsSet(tdb.db, items, nasty)
const controlSet = await seedControlSet(tdb.db, someControl(8))
const small = await trainAdapter(tdb.db, worker.url, items, 'report-ft-small', 1e12)
const large = await trainAdapter(tdb.db, worker.url, [...items, ...items], 'report-ft-large', 4e12)
const { app, baseUrl } = await startService(tdb.db, tdb.url, worker.url)
t.teardown(() => app.close())

async function evaluate(set: string, mode: string, adapter?: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: MODEL, set_id: set, mode, ...(adapter ? { adapter_id: adapter } : {}) } })
  if (res.statusCode !== 202) throw new Error(res.body)
  return res.json().id
}
const ids = {
  base: await evaluate(newsSet, 'base'),
  icl: await evaluate(newsSet, 'icl'),
  ft: await evaluate(newsSet, 'ft', small),
  ftLarge: await evaluate(newsSet, 'ft', large),
  ftIcl: await evaluate(newsSet, 'ft_icl', small),
  controlBase: await evaluate(controlSet, 'base'),
  controlFt: await evaluate(controlSet, 'ft', small),
}
const all = Object.values(ids)
await until(async () => (await tdb.db.selectFrom('eval_runs').select('id').where('state', '=', 'succeeded').execute()).length === all.length, 180_000, 'every run')
const report = (query: string) => app.inject({ url: `/reports?${query}`, headers: auth })

t.test('JSON: each run’s summary and every comparison the runs allow', async (t) => {
  const res = await report(`runs=${all.join(',')}`)
  t.equal(res.statusCode, 200)
  const r = res.json()
  t.same(r.runs.map((x: { id: string }) => x.id), all, 'runs in the order asked')
  t.same(r.runs.map((x: { label: string }) => x.label), ['base', 'ICL', 'FT (report-ft-small)', 'FT (report-ft-large)', 'FT+ICL (report-ft-small)', 'base · control', 'FT (report-ft-small) · control'])
  t.same(r.runs.map((x: { compute_flops: number | null }) => x.compute_flops), [null, null, 1e12, 4e12, 1e12, null, 1e12])
  const kinds = r.comparisons.map((c: { kind: string; runs: Record<string, string> }) => `${c.kind}:${Object.values(c.runs).join('/')}`)
  t.same(kinds.sort(), [
    `forgetting:${ids.controlBase}/${ids.controlFt}`,
    `ft_icl_gap:${ids.icl}/${ids.ft}`,
    `ft_icl_gap:${ids.icl}/${ids.ftLarge}`,
    `gap_closed:${ids.base}/${ids.icl}/${ids.ft}`,
    `gap_closed:${ids.base}/${ids.icl}/${ids.ftLarge}`,
    `overexposure:${ids.icl}/${ids.ftIcl}`,
  ].sort())
  const acc = (id: string) => r.runs.find((x: { id: string }) => x.id === id).summary.overall.accuracy.value
  const gap = r.comparisons.find((c: { kind: string; runs: { ft?: string } }) => c.kind === 'ft_icl_gap' && c.runs.ft === ids.ft)
  t.equal(gap.n, 25)
  t.ok(Math.abs(gap.estimate.value - (acc(ids.icl) - acc(ids.ft))) < 1e-12, 'the gap is the difference of the two accuracies on the shared questions')
  t.ok(gap.estimate.ci_low <= gap.estimate.value && gap.estimate.value <= gap.estimate.ci_high)
  t.equal(Object.keys(gap.by_domain).length, 5)
  const forgetting = r.comparisons.find((c: { kind: string }) => c.kind === 'forgetting')
  t.ok(Math.abs(forgetting.estimate.value - (acc(ids.controlFt) - acc(ids.controlBase))) < 1e-12)
  t.same(r.domains, ['coding', 'discoveries', 'events', 'leaderboards', 'mathematics', ...new Set(someControl(8).map((q) => q.subject))].sort())
})

t.test('CSV: a row per run × group and per comparison', async (t) => {
  const res = await report(`runs=${ids.base},${ids.icl},${ids.ft}&format=csv`)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/csv/)
  const lines = res.body.trim().split('\r\n')
  t.equal(lines[0], 'section,metric,group,run_id,label,model,adapter_id,mode,scoring,primary,set_name,n,correct,value,ci_low,ci_high,chance,runs')
  // per run: overall + 5 domains + 2 types + 4 choice rules = 12 rows; comparisons: (gap + closed) × (overall + 5 domains)
  t.equal(lines.length, 1 + 3 * 12 + 2 * 6)
  t.ok(lines.some((l) => l.startsWith(`accuracy,accuracy,all,${ids.icl},ICL,${MODEL},,icl,loglik,option_norm,"<img src=x onerror=""window.__xss=1"">news",25,`)), 'a quoted field doubles its quotes')
  t.ok(lines.some((l) => l.startsWith('comparison,ft_icl_gap,all,')))
})

t.test('bad report queries name the field', async (t) => {
  const cases: [string, string][] = [['', '/querystring/runs'], ['runs=ev_00000000000000000000000000000000', '/querystring/runs'], [`runs=${ids.base}&format=pdf`, '/querystring/format']]
  for (const [query, path] of cases) {
    const res = await report(query)
    t.equal(res.statusCode, 400, query)
    t.ok(res.json().errors.some((e: { path: string }) => e.path === path), `${query || '(none)'} → ${path}`)
  }
})

t.test('HTML: renders in headless Chromium with both charts drawn, no console errors, no network', async (t) => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ extraHTTPHeaders: auth, viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  const elsewhere: string[] = []
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith(baseUrl)) return route.continue()
    elsewhere.push(route.request().url())
    return route.abort()
  })
  const res = await page.goto(`${baseUrl}/reports?runs=${all.join(',')}&format=html`)
  t.equal(res?.status(), 200)
  t.match(res?.headers()['content-type'], /text\/html/)
  await page.waitForSelector('body[data-charts="drawn"]', { timeout: 20_000 })

  for (const id of ['chart-domains', 'chart-control', 'chart-compute']) {
    // runs in the page (the DOM's types are not in this project's compiler settings)
    const inked = await page.evaluate((id) => {
      const c = (globalThis as any).document.getElementById(id)
      const d: Uint8ClampedArray = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++
      return { n, total: d.length / 4 }
    }, id)
    t.ok(inked.n > inked.total * 0.01, `${id}: ${inked.n} of ${inked.total} pixels drawn`)
  }
  t.same(problems, [], 'no console errors or warnings')
  t.same(elsewhere, [], 'no request left the service (Chart.js is inlined)')
  t.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined, 'the hostile set name did not run')
  t.equal(await page.locator('img').count(), 0)
  t.ok((await page.content()).includes('&lt;img src=x'), 'it is shown as text')
  const domainTables = await page.locator('section.group h3').allTextContents()
  t.ok(domainTables.includes('Domain: mathematics') && domainTables.includes('Question type: implication'), 'a table per domain and per question type')
  t.match(await page.locator('table').nth(1).textContent(), /FT-ICL gap/)
  // to look at the page: SYS2FT_REPORT_SCREENSHOT=/tmp/report.png npx tap services/evaluation/test/reports.test.ts
  if (process.env.SYS2FT_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.SYS2FT_REPORT_SCREENSHOT, fullPage: true })
})
