#!/usr/bin/env node
// Part of `npm run build`: the package's entry (dist/index.js) and the
// command line (dist/bin/execnet.js) each as one CommonJS bundle, loaded
// through V8's code cache (lib/code-cache.ts). Node's ES module loader pays
// for each file on the way to the first result (resolve, stat, read,
// compile, link): the 44 files the entry reached took 45-55 ms of a cold
// start, their bundle 12-15 ms, and the bundle from the code cache less
// again. The modules stay in dist/ as tsc wrote them, beside their
// declarations; readable-stream and through2 stay dependencies, loaded from
// node_modules.
import { buildSync } from 'esbuild'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'

const dist = new URL('../dist/', import.meta.url)

const options = (entry) => ({
  entryPoints: [new URL(entry, dist).pathname],
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['readable-stream', 'through2'],
  // class and function names as written: errors and messages show them
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning'
})

/**
 * `entry` and what it imports of ours as one CommonJS bundle at `outfile`
 * (both under dist/); the names it exports, and the key of its version.
 */
function bundle (entry, outfile) {
  const out = new URL(outfile, dist)
  // the bundle's modules find their Python files and dependencies from its
  // URL, which lib/code-cache.ts passes in as __bundleUrl
  buildSync({ ...options(entry), outfile: out.pathname, format: 'cjs', define: { 'import.meta.url': '__bundleUrl' } })
  // what the ES module entry re-exports: esbuild lists an ES build's exports
  const { metafile } = buildSync({ ...options(entry), outfile: out.pathname, format: 'esm', write: false, metafile: true })
  const names = Object.values(metafile.outputs).flatMap((output) => output.exports)
  const key = createHash('sha256').update(readFileSync(out)).digest('hex').slice(0, 20)
  return { names, key }
}

// in dist/lib/, where the modules' import.meta.url pointed: the Python
// files (./python/) and the dependencies are found from there
const main = bundle('index.js', 'lib/bundle.cjs')
writeFileSync(new URL('index.js', dist), [
  '// the package\'s modules, bundled by scripts/bundle.mjs, compiled through the code cache',
  "import { loadBundle } from './lib/code-cache.js'",
  `const bundle = loadBundle(new URL('./lib/bundle.cjs', import.meta.url), 'package', '${main.key}').exports`,
  `export const { ${main.names.join(', ')} } = bundle`,
  ''
].join('\n'))
// the command line is a cold start each time it runs: its own bundle
// (its own copy of the classes, which nothing else in its process uses)
const cli = bundle('bin/execnet.js', 'lib/cli-bundle.cjs')
writeFileSync(new URL('bin/execnet.js', dist), [
  '#!/usr/bin/env node',
  '// the command line, bundled by scripts/bundle.mjs, compiled through the code cache',
  "import { loadBundle } from '../lib/code-cache.js'",
  `loadBundle(new URL('../lib/cli-bundle.cjs', import.meta.url), 'cli', '${cli.key}')`,
  ''
].join('\n'))
