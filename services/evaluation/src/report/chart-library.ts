import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

let source: string | null = null

/**
 * Chart.js's UMD build, to inline into the HTML report: these machines have no internet, so a CDN
 * link would leave the charts blank. Read once; chart.js's exports map hides the UMD file, so it is
 * found next to the package's main file.
 */
export function chartLibrary(): string {
  if (source === null) {
    const main = createRequire(import.meta.url).resolve('chart.js')
    // a literal "</script" inside the inlined code would end the script element early
    source = readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script')
  }
  return source
}
