// The console's initial JavaScript, gzipped: the entry script and the modules index.html preloads
// (what a browser fetches before the first page shows). Lazily loaded page chunks are listed apart.
// Usage: node scripts/bundle-size.mjs [dist]   (after `npm run build`)
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const dist = process.argv[2] ?? 'dist'
const html = readFileSync(join(dist, 'index.html'), 'utf8')
const initial = new Set()
for (const match of html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/console\/([^"]+\.js)"/g)) {
  initial.add(match[1])
}
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length
const kb = (bytes) => (bytes / 1024).toFixed(1)

let initialTotal = 0
for (const file of initial) initialTotal += gz(file)
const all = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js')).map((f) => `assets/${f}`)
const lazy = all.filter((f) => !initial.has(f)).map((f) => [f, gz(f)]).sort((a, b) => b[1] - a[1])
const css = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.css'))

console.log(`initial JS (gzip): ${kb(initialTotal)} KB in ${initial.size} files (target ≤ 400 KB)`)
for (const file of initial) console.log(`  ${file}  ${kb(gz(file))} KB`)
console.log(`lazy JS chunks: ${lazy.length}, largest:`)
for (const [file, size] of lazy.slice(0, 6)) console.log(`  ${file}  ${kb(size)} KB`)
console.log(`CSS files: ${css.length}`)
if (initialTotal > 400 * 1024) process.exitCode = 1
