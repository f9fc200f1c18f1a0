#!/usr/bin/env node
// Part of `npm run build`: the package's entry (dist/index.js) as one
// module. Node's ES module loader pays for each file on the way to the first
// result (resolve, stat, read, compile, link): the 44 files the entry
// reached took 45-55 ms of a cold start, as long as starting Python; their
// bundle takes 12-15 ms. The command line (dist/bin/execnet.js) gets one
// too. The modules stay in dist/ as tsc wrote them, beside their
// declarations; readable-stream and through2 stay dependencies, loaded from
// node_modules.
import { buildSync } from 'esbuild'
import { writeFileSync } from 'node:fs'

const dist = new URL('../dist/', import.meta.url)

/** `entry` and what it imports of ours as one ES module at `outfile` (both under dist/). */
function bundle (entry, outfile) {
  buildSync({
    entryPoints: [new URL(entry, dist).pathname],
    outfile: new URL(outfile, dist).pathname,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['readable-stream', 'through2'],
    // class and function names as written: errors and messages show them
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning'
  })
}

// in dist/lib/, where the modules' import.meta.url pointed: the Python
// files (./python/) and the dependencies are found from there
bundle('index.js', 'lib/bundle.js')
writeFileSync(new URL('index.js', dist), "// the package's modules, bundled by scripts/bundle.mjs\nexport * from './lib/bundle.js'\n")
// the command line is a cold start each time it runs: its own bundle
// (its own copy of the classes, which nothing else in its process uses)
bundle('bin/execnet.js', 'lib/cli-bundle.js')
writeFileSync(new URL('bin/execnet.js', dist), "#!/usr/bin/env node\n// the command line, bundled by scripts/bundle.mjs\nimport '../lib/cli-bundle.js'\n")
