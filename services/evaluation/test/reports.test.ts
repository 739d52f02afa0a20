// Reports over real runs on the real worker: comparisons (ICL gain, gap, gap closed and its guard,
// overexposure, forgetting), CSV, and the HTML page loaded in headless Chromium (charts drawn, no
// console errors, no network, text escaped, every table inside the page at 1300 px: a screenshot).
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
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
const small = await trainAdapter(tdb.db, worker.url, items, 'report-ft-small', 1e12, { newsSetId: newsSet, epochs: 1 })
const large = await trainAdapter(tdb.db, worker.url, items, 'report-ft-large', 4e12, { newsSetId: newsSet, epochs: 2 })
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
  // named by what they are (protocol, lr, epochs), not by a job id or a name someone chose
  t.same(r.runs.map((x: { label: string }) => x.label), ['base', 'ICL', 'FT · naive · lr 1e-3 · 1 ep', 'FT · naive · lr 1e-3 · 2 ep', 'FT+ICL · naive · lr 1e-3 · 1 ep', 'base · control', 'FT · naive · lr 1e-3 · 1 ep · control'])
  t.match(r.runs[3].training, { protocol: 'naive', samples_per_news: null, learning_rate: 1e-3, epochs: 2, lora_r: 4, news_in_context: false, replay: 0 })
  t.same(r.runs.map((x: { series: string }) => x.series).slice(2, 5), [`FT naive · ${MODEL}`, `FT naive · ${MODEL}`, `FT+ICL naive · ${MODEL}`])
  t.same(r.runs.map((x: { compute_flops: number | null }) => x.compute_flops), [null, null, 1e12, 4e12, 1e12, null, 1e12])
  const kinds = r.comparisons.map((c: { kind: string; runs: Record<string, string> }) => `${c.kind}:${Object.values(c.runs).join('/')}`)
  t.same(kinds.sort(), [
    `forgetting:${ids.controlBase}/${ids.controlFt}`,
    `icl_gain:${ids.base}/${ids.icl}`,
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
  t.same(Object.keys(gap.by_type).sort(), ['implication', 'recall'])
  t.equal(gap.items, 5, 'five news items: the clusters resampled')

  // gap closed and its guard, against the per-question results in the database
  const rows = await tdb.db.selectFrom('eval_results').select(['run_id', 'correct']).where('run_id', 'in', [ids.base, ids.icl, ids.ft]).execute()
  const mean = (id: string) => rows.filter((x) => x.run_id === id && x.correct).length / rows.filter((x) => x.run_id === id).length
  const gain = r.comparisons.find((c: { kind: string }) => c.kind === 'icl_gain')
  t.ok(Math.abs(gain.estimate.value - (mean(ids.icl) - mean(ids.base))) < 1e-12, 'ICL gain = ICL − base, from the stored results')
  const closed = r.comparisons.find((c: { kind: string; runs: { ft?: string } }) => c.kind === 'gap_closed' && c.runs.ft === ids.ft)
  t.same(closed.means, { base: mean(ids.base), icl: mean(ids.icl), ft: mean(ids.ft) })
  t.same([closed.icl_gain.ci_low, closed.icl_gain.ci_high], [gain.estimate.ci_low, gain.estimate.ci_high], 'the guard is the ICL gain on the same resampled items')
  if (gain.estimate.ci_low > 0) {
    t.equal(closed.undefined_reason, null)
    t.ok(Math.abs(closed.estimate.value - (mean(ids.ft) - mean(ids.base)) / (mean(ids.icl) - mean(ids.base))) < 1e-12)
  } else {
    t.equal(closed.estimate.value, null, `ICL gain ${gain.estimate.value} [${gain.estimate.ci_low}, ${gain.estimate.ci_high}]: gap closed withheld`)
    t.match(closed.undefined_reason, /^undefined: ICL does not beat base on these questions/)
  }
  const forgetting = r.comparisons.find((c: { kind: string }) => c.kind === 'forgetting')
  t.ok(Math.abs(forgetting.estimate.value - (acc(ids.controlFt) - acc(ids.controlBase))) < 1e-12)
  // matched compute: no token budget here, so the adapters' budgets are their FLOPs (1e12, 4e12): two groups, and a note
  t.same(r.budget_groups.map((g: { basis: string; mode: string; runs: string[] }) => [g.basis, g.mode, g.runs]), [['flops', 'ft', [ids.ft]], ['flops', 'ft', [ids.ftLarge]], ['flops', 'ft_icl', [ids.ftIcl]], ['flops', 'ft', [ids.controlFt]]])
  t.same(r.runs[2].budget, { group: 'b1', label: '≈1.00e12 FLOPs', basis: 'flops', tokens: null })
  t.equal(r.runs[0].budget, null, 'base has no training budget')
  t.ok(r.notes.some((n: string) => /^FT runs of .* were trained at 2 different budgets \(≈1\.00e12 FLOPs: 1 run; ≈4\.00e12 FLOPs: 1 run\)/.test(n)), 'the two FT runs are not read as compared at equal compute')
  t.same(r.domains, ['coding', 'discoveries', 'events', 'leaderboards', 'mathematics', ...new Set(someControl(8).map((q) => q.subject))].sort())
})

t.test('CSV: a row per run × group and per comparison', async (t) => {
  const res = await report(`runs=${ids.base},${ids.icl},${ids.ft}&format=csv`)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/csv/)
  const lines = res.body.trim().split('\r\n')
  t.equal(lines[0], 'section,metric,group,run_id,label,model,adapter_id,mode,scoring,primary,set_name,n,items,correct,value,ci_low,ci_high,chance,undefined_share,undefined_reason,runs,budget_group,budget,budget_tokens,training_flops,generation_flops')
  // per run: overall + 5 domains + 2 types + each choice rule; comparisons: (ICL gain, gap, closed) × (overall + 5 domains + 2 types)
  const rules = Object.keys((await report(`runs=${ids.base}`)).json().runs[0].summary.measures).length
  t.ok(rules >= 3, `${rules} choice rules`)
  t.equal(lines.length, 1 + 3 * (8 + rules) + 3 * 8)
  t.ok(lines.some((l) => l.startsWith(`accuracy,accuracy,all,${ids.icl},ICL,${MODEL},,icl,loglik,option_norm,"<img src=x onerror=""window.__xss=1"">news",25,,`)), 'a quoted field doubles its quotes')
  for (const kind of ['icl_gain', 'ft_icl_gap', 'gap_closed']) for (const group of ['all', 'domain:coding', 'type:recall']) t.ok(lines.some((l) => l.startsWith(`comparison,${kind},${group},`)), `${kind} ${group}`)
})

t.test('a summary stored with per-question intervals (an earlier version) is recomputed when read', async (t) => {
  const fresh = (await app.inject({ url: `/eval-runs/${ids.icl}`, headers: auth })).json().summary
  t.equal(fresh.bootstrap.resampled, 'news_items')
  const { resampled: _, ...oldBootstrap } = fresh.bootstrap
  const legacy = { ...fresh, bootstrap: oldBootstrap, overall: { ...fresh.overall, accuracy: { ...fresh.overall.accuracy, ci_low: 0.123, ci_high: 0.124 } } }
  await tdb.db.updateTable('eval_runs').set({ summary: JSON.stringify(legacy) }).where('id', '=', ids.icl).execute()
  const read = (await app.inject({ url: `/eval-runs/${ids.icl}`, headers: auth })).json().summary
  t.same(read.overall, fresh.overall, 'the same figures as a new run gets, not the stored ones')
  t.equal(read.bootstrap.resampled, 'news_items')
})

t.test('bad report queries name the field', async (t) => {
  const cases: [string, string][] = [['', '/querystring/runs'], ['runs=ev_00000000000000000000000000000000', '/querystring/runs'], [`runs=${ids.base}&format=pdf`, '/querystring/format']]
  for (const [query, path] of cases) {
    const res = await report(query)
    t.equal(res.statusCode, 400, query)
    t.ok(res.json().errors.some((e: { path: string }) => e.path === path), `${query || '(none)'} → ${path}`)
  }
})

t.test('HTML: renders in headless Chromium at 1300 px, charts drawn, tables inside the page, no console errors, no network', async (t) => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ extraHTTPHeaders: auth, viewport: { width: 1300, height: 900 } })
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

  // the headline comes first: the ICL gain, then each adapter's gap and gap closed
  const h2 = await page.locator('h2').allTextContents()
  t.same(h2.slice(0, 3), ['Headline', 'By question type', 'By domain'])
  t.match(await page.locator('.lead').first().textContent(), /^ICL gain [+-]\d+\.\d pt .*on 25 questions about 5 news items\.$/)
  const headline = await page.locator('section.block table').first().textContent()
  t.match(headline, /FT · naive · lr 1e-3 · 1 ep/)
  t.match(headline, /FT · naive · lr 1e-3 · 2 ep/)
  const json = (await report(`runs=${all.join(',')}`)).json()
  const closed = json.comparisons.filter((c: { kind: string }) => c.kind === 'gap_closed')
  const undef = await page.locator('section.block .undef').count()
  t.equal(undef, closed.filter((c: { undefined_reason: string | null }) => c.undefined_reason !== null).length, 'an "undefined" per withheld gap closed, none elsewhere in the headline')
  t.equal(await page.locator('section.block p.warn', { hasText: 'trained at 2 different budgets' }).count(), 1, 'the adapters table says it mixes budgets')
  t.match(await page.locator('section.block table').first().locator('thead').textContent(), /training budget/)
  const byType = await page.locator('h2:text("By question type") + table').textContent()
  t.match(byType, /recall/)
  t.match(byType, /implication/)
  t.match(byType, /ICL gain/)

  // nothing sticks out at 1300 px: each table fits its container and the page does not scroll sideways
  const overflow = await page.evaluate(() => {
    const doc = (globalThis as any).document
    const out: string[] = []
    for (const table of doc.querySelectorAll('table')) {
      const box = table.getBoundingClientRect()
      const parent = table.parentElement.getBoundingClientRect()
      if (box.right > parent.right + 0.5 || box.left < parent.left - 0.5) out.push(`${table.querySelector('th')?.textContent}: ${Math.round(box.left)}–${Math.round(box.right)} outside ${Math.round(parent.left)}–${Math.round(parent.right)}`)
      for (const cell of table.querySelectorAll('td, th')) if (cell.scrollWidth > cell.clientWidth + 1) out.push(`a cell overflows: ${cell.textContent.slice(0, 40)}`)
    }
    if (doc.documentElement.scrollWidth > doc.documentElement.clientWidth) out.push(`page ${doc.documentElement.scrollWidth} px wide`)
    return out
  })
  t.same(overflow, [], 'every table fits')
  const compute = await page.evaluate(() => {
    const chart = (globalThis as any).Chart.getChart((globalThis as any).document.getElementById('chart-compute'))
    return { x: chart.scales.x.type, series: chart.data.datasets.map((d: any) => d.label), labels: chart.data.datasets.flatMap((d: any) => d.data.map((p: any) => p.label)) }
  })
  t.equal(compute.x, 'logarithmic', 'compute on a log axis')
  t.same(compute.series, [`FT naive · ${MODEL}`, `FT+ICL naive · ${MODEL}`], 'a series per mode, protocol and model')
  t.same(compute.labels, ['naive', 'naive', 'naive'], 'each point labelled by its protocol')
  const shot = path.join(mkdtempSync(path.join(tmpdir(), 'sys2ft-report-')), 'report-1300.png')
  await page.screenshot({ path: shot, fullPage: true })
  t.comment(`screenshot: ${shot}`)
})
