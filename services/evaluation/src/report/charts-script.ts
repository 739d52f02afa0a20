/**
 * The report page's own script (runs in the browser, after the inlined Chart.js): reads the report
 * JSON embedded in the page and draws the charts. Animation is off so a chart is complete as soon as
 * the page has loaded (printing, screenshots, the headless-browser test).
 */
export const CHARTS_SCRIPT = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var palette = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, sans-serif';
  var pct = function (x) { return x === null || x === undefined ? null : Math.round(x * 1000) / 10; };

  // news-set runs by domain; control-set runs (their groups are subjects) get their own chart
  var bars = function (canvasId, runs, title) {
    var keys = {};
    runs.forEach(function (r) { Object.keys(r.summary.by_domain).forEach(function (k) { keys[k] = true; }); });
    var groups = ['all'].concat(Object.keys(keys).sort());
    var group = function (r, d) { return d === 'all' ? r.summary.overall : r.summary.by_domain[d]; };
    var datasets = runs.map(function (r) {
      var i = data.runs.indexOf(r);
      return { type: 'bar', label: r.label, backgroundColor: palette[i % palette.length],
        data: groups.map(function (d) { var g = group(r, d); return g ? pct(g.accuracy.value) : null; }) };
    });
    datasets.push({ type: 'line', label: 'chance', borderColor: '#888', borderDash: [6, 4], pointRadius: 0, fill: false,
      data: groups.map(function (d) { var g = group(runs[0], d); return g ? pct(g.chance) : null; }) });
    new Chart(document.getElementById(canvasId), {
      data: { labels: groups, datasets: datasets },
      options: { responsive: true, maintainAspectRatio: false,
        scales: { y: { min: 0, max: 100, title: { display: true, text: 'accuracy (%)' } } },
        plugins: { title: { display: true, text: title } } }
    });
  };
  var scored = data.runs.filter(function (r) { return r.summary; });
  var news = scored.filter(function (r) { return r.set_kind === 'news'; });
  var control = scored.filter(function (r) { return r.set_kind === 'control'; });
  if (news.length && document.getElementById('chart-domains')) bars('chart-domains', news, 'Accuracy by method and domain');
  if (control.length && document.getElementById('chart-control')) bars('chart-control', control, 'Control set (forgetting): accuracy by method and subject');

  // label 1, 2 and 5 × 10^k only; a log axis has a tick at every integer multiple
  var logTick = function (v) {
    var e = Math.floor(Math.log10(v) + 1e-9), m = Math.round(v / Math.pow(10, e) * 1000) / 1000;
    return m === 1 || m === 2 || m === 5 ? m + 'e' + e : '';
  };
  // each point carries its own short label (protocol and samples per news), drawn next to it
  var pointLabels = { id: 'pointLabels', afterDatasetsDraw: function (chart) {
    var ctx = chart.ctx;
    ctx.save();
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#333';
    chart.data.datasets.forEach(function (ds, i) {
      var meta = chart.getDatasetMeta(i);
      if (meta.hidden) return;
      meta.data.forEach(function (el, j) { var p = ds.data[j]; if (p && p.label) ctx.fillText(p.label, el.x + 6, el.y - 6); });
    });
    ctx.restore();
  } };
  // accuracy vs compute: x is the training FLOPs, or training + generation FLOPs (the self-play
  // compute that made the data); one series per mode, protocol variant and model, never one line
  // through different protocols
  var computeChart = function (canvasId, xOf, axis, title) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) return;
    var bySeries = {};
    data.runs.forEach(function (r) {
      if (r.compute_flops === null || !r.summary || (r.mode !== 'ft' && r.mode !== 'ft_icl') || r.set_kind !== 'news') return;
      var x = xOf(r);
      if (x === null) return;
      var t = r.training;
      var label = t ? t.protocol + (t.news_in_context ? ' (shadowed)' : '') + (t.samples_per_news !== null ? ' ' + t.samples_per_news + '/news' : '') : r.label;
      // at a token budget the point says which: points of one budget are the ones compared
      if (r.budget && r.budget.basis === 'token_budget') label += ' @ ' + r.budget.label;
      (bySeries[r.series] = bySeries[r.series] || []).push({ x: x, y: pct(r.summary.overall.accuracy.value), label: label });
    });
    var series = Object.keys(bySeries).sort().map(function (m, i) {
      var points = bySeries[m].sort(function (a, b) { return a.x - b.x; });
      return { label: m, data: points, showLine: true, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length] };
    });
    new Chart(canvas, {
      type: 'scatter',
      data: { datasets: series },
      plugins: [pointLabels],
      options: { responsive: true, maintainAspectRatio: false,
        scales: { x: { type: 'logarithmic', title: { display: true, text: axis + ' (FLOPs, log scale)' },
                       ticks: { callback: logTick } },
                  y: { min: 0, max: 100, title: { display: true, text: 'accuracy after fine-tuning (%)' } } },
        plugins: { title: { display: true, text: title } } }
    });
  };
  computeChart('chart-compute', function (r) { return r.compute_flops; }, 'training compute', 'Accuracy vs training compute, per protocol and model');
  computeChart('chart-compute-total', function (r) { return r.generation_flops === null ? null : r.compute_flops + r.generation_flops; },
    'training + generation compute', 'Accuracy vs training + generation compute, per protocol and model');
  document.body.setAttribute('data-charts', 'drawn');
})();
`
