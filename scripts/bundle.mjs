#!/usr/bin/env node
// Part of `npm run build`: the package's entry (dist/index.js) and the
// command line (dist/bin/execnet.js) each as one CommonJS bundle, loaded
// through V8's code cache (lib/code-cache.ts). Node's ES module loader pays
// for each file on the way to the first result (resolve, stat, read,
// compile, link): the 44 files the entry reached took 45-55 ms of a cold
// start, their bundle 12-15 ms, and the bundle from the code cache less
// again. The modules stay in dist/ as tsc wrote them, beside their
// declarations. readable-stream and through2 stay dependencies, and are also
// bundled, with the packages they require, into dist/lib/vendor-streams.cjs,
// which lib/streams.ts loads through the code cache while the installed
// versions are the bundled ones (their 20 files through require() took
// 10-15 ms of the way to a first gateway, the bundle a third of that).
import { buildSync } from 'esbuild'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const dist = new URL('../dist/', import.meta.url)

const root = new URL('..', import.meta.url).pathname
const hash = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 20)

/**
 * readable-stream and through2 as one CommonJS bundle: what lib/streams.ts
 * loads at once (Duplex, finished), and what it loads on first use (the
 * index, through2), all from the same copy, as the operators readable-stream's
 * index puts on its Readable.prototype must be. Node's own modules stay
 * outside (readable-stream asks for `buffer` and `events`, which in Node are
 * Node's). The licence of every package inside heads the file.
 */
function vendorStreams () {
  const out = new URL('lib/vendor-streams.cjs', dist).pathname
  const entry = [
    "exports.Duplex = require('readable-stream/lib/internal/streams/duplex.js')",
    "exports.finished = require('readable-stream/lib/internal/streams/end-of-stream.js')",
    "exports.index = () => require('readable-stream')",
    "exports.through2 = () => require('through2')"
  ].join('\n')
  const common = {
    stdin: { contents: entry, resolveDir: root, sourcefile: 'vendor-streams-entry.cjs', loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning'
  }
  const { metafile } = buildSync({ ...common, write: false, metafile: true, outfile: out })
  // each package in it (name -> directory), and every package whose files
  // require it (breadth first from the entry: the first requirer comes
  // before what it requires), from which lib/streams.ts resolves it to check
  // that require() would find this version, and this one copy, from each
  const packages = new Map()
  const from = new Map()
  const packageOf = (input) => /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input)
  const queue = Object.keys(metafile.inputs).filter((input) => packageOf(input) === null)
  const queued = new Set(queue)
  for (let i = 0; i < queue.length; i++) {
    const input = queue[i]
    const mine = packageOf(input)
    for (const { path } of metafile.inputs[input]?.imports ?? []) {
      if (!(path in metafile.inputs)) continue
      if (!queued.has(path)) {
        queued.add(path)
        queue.push(path)
      }
      const theirs = packageOf(path)
      if (theirs === null || mine?.[2] === theirs[2]) continue
      const dir = join(root, theirs[1])
      const seen = packages.get(theirs[2])
      // one copy per name: two would need two licences and two version checks
      if (seen !== undefined && seen !== dir) throw new Error(`vendor-streams: two copies of ${theirs[2]}: ${seen} and ${dir}`)
      if (seen === undefined) {
        packages.set(theirs[2], dir)
        from.set(theirs[2], new Set())
      }
      from.get(theirs[2]).add(mine === null ? null : mine[2])
    }
  }
  const manifest = (name) => JSON.parse(readFileSync(join(packages.get(name), 'package.json'), 'utf8'))
  const licences = [...packages.keys()].sort().map((name) => {
    const dir = packages.get(name)
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE'].map((f) => join(dir, f)).find(existsSync)
    if (file === undefined) throw new Error(`vendor-streams: ${name} has no licence file`)
    const { version, license } = manifest(name)
    return [`${name} ${version} (${license})`, '', readFileSync(file, 'utf8').trim().replaceAll('*/', '* /')].join('\n')
  })
  const banner = ['/*', ' * readable-stream and through2, with the packages they require, bundled by', ' * scripts/bundle.mjs. Their licences:', ' *', licences.join('\n\n---\n\n'), '*/'].join('\n')
  buildSync({ ...common, format: 'cjs', outfile: out, banner: { js: banner } })
  const versions = [...packages.keys()].map((name) => ({ name, version: manifest(name).version, from: [...from.get(name)] }))
  return { key: hash(out), versions }
}

const vendored = vendorStreams()

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
  buildSync({
    ...options(entry),
    outfile: out.pathname,
    format: 'cjs',
    // __vendoredStreams: what lib/streams.ts needs to know of vendor-streams.cjs,
    // in JSON (an object here would be a module of its own in the bundle)
    define: { 'import.meta.url': '__bundleUrl', __vendoredStreams: JSON.stringify(JSON.stringify(vendored)) }
  })
  // what the ES module entry re-exports: esbuild lists an ES build's exports
  const { metafile } = buildSync({ ...options(entry), outfile: out.pathname, format: 'esm', write: false, metafile: true })
  const names = Object.values(metafile.outputs).flatMap((output) => output.exports)
  return { names, key: hash(out) }
}

/**
 * Write the ES module `file` (under dist/): `lines`, with lib/code-cache.js
 * built into it. Each ES module the loader reaches on the way to the first
 * result is resolved, read, compiled and linked on its own: code-cache.js
 * as a module of its own was 1.5 ms of a 9 ms import.
 */
function entry (file, lines) {
  const out = new URL(file, dist).pathname
  buildSync({
    stdin: { contents: lines.join('\n'), resolveDir: dirname(out), sourcefile: `${file}, the entry`, loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: out,
    legalComments: 'none',
    logLevel: 'warning'
  })
}

// in dist/lib/, where the modules' import.meta.url pointed: the Python
// files (./python/) and the dependencies are found from there
const main = bundle('index.js', 'lib/bundle.cjs')
entry('index.js', [
  '// the package\'s modules, bundled by scripts/bundle.mjs, compiled through the code cache',
  "import { loadBundle } from './lib/code-cache.js'",
  `const bundle = loadBundle(new URL('./lib/bundle.cjs', import.meta.url), 'package', '${main.key}').exports`,
  `export const { ${main.names.join(', ')} } = bundle`
])
// the command line is a cold start each time it runs: its own bundle
// (its own copy of the classes, which nothing else in its process uses)
const cli = bundle('bin/execnet.js', 'lib/cli-bundle.cjs')
entry('bin/execnet.js', [
  '#!/usr/bin/env node',
  '// the command line, bundled by scripts/bundle.mjs, compiled through the code cache',
  "import { loadBundle } from '../lib/code-cache.js'",
  `loadBundle(new URL('../lib/cli-bundle.cjs', import.meta.url), 'cli', '${cli.key}')`
])
