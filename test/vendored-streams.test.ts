// The built package's readable-stream and through2 (lib/streams.ts,
// scripts/bundle.mjs): loaded from the build's bundle of them,
// dist/lib/vendor-streams.cjs, while node_modules holds the versions it was
// built from, and from node_modules when it holds others (a dependency
// updated in place) or under READABLE_STREAM=disable. Each case is a fresh
// `node` process on the built package, as a user's is.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, join, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'

/** The packages the bundle holds. */
const STREAM_PACKAGES = ['readable-stream', 'through2', 'string_decoder', 'abort-controller', 'event-target-shim', 'safe-buffer', 'process']

interface Outcome {
  /** The files of node_modules' readable-stream, through2 and what they require that the process loaded. */
  required: string[]
  /** A channel's values through the stream operators (readable-stream's index). */
  taken: number[]
  /** Values through a transform() (through2). */
  transformed: number[]
}

// what a user's program does with streams, from spawn to the first gateway's
// values, then what of node_modules it loaded
const program = (index: string): string => `import { createRequire } from 'node:module'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
const { makeGateway, encoder, decoder } = await import(${JSON.stringify(pathToFileURL(index).href)})
const gw = await makeGateway('popen')
const channel = gw.remoteExec('for i in range(5): channel.send(i)')
const taken = await channel.map((x) => x * 10).take(3).toArray()
const transformed = []
await pipeline(Readable.from([1, 2, 3]), encoder(), decoder(), new Writable({ objectMode: true, write (v, _e, cb) { transformed.push(v); cb() } }))
await gw.terminate()
const require = createRequire(import.meta.url)
const required = Object.keys(require.cache).filter((f) => /node_modules[\\\\/](${STREAM_PACKAGES.join('|')})[\\\\/]/.test(f))
console.log(JSON.stringify({ required, taken, transformed }))`

function run (index: string, env: NodeJS.ProcessEnv = {}): Outcome {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program(index)], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 })
  if (r.status !== 0) throw new Error(`node exited with ${String(r.status)}: ${r.stderr}`)
  return JSON.parse(r.stdout) as Outcome
}

const distIndex = join(repoRoot, 'dist', 'index.js')
const version = (name: string): string => (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

t.test('the bundle, where node_modules has the versions it holds', async (t) => {
  const cache = tempDir(t, 'vendored-streams')
  for (const round of ['first', 'cached']) {
    const out = run(distIndex, { EXECNET_CACHE_DIR: cache })
    t.same(out.required, [], `${round}: nothing of node_modules' readable-stream or through2 is loaded`)
    t.same(out.taken, [0, 10, 20], `${round}: the stream operators work on a channel`)
    t.same(out.transformed, [1, 2, 3], `${round}: so does through2's transform`)
  }
  t.ok(readdirSync(cache).some((f) => f.startsWith('streams-')), 'compiled through the code cache')
})

/**
 * The built package beside its dependencies, the stream packages copies
 * (symlinks would resolve to this repository's node_modules), `changed`
 * saying it is another version, as after `npm update`.
 */
// (a path under node_modules: through2's own readable-stream, nested in it, is one that
// through2 alone requires; ours still finds the bundled version at the top)
for (const changed of ['readable-stream', 'string_decoder', 'through2/node_modules/readable-stream']) {
  t.test(`node_modules, where its ${changed} is another version`, async (t) => {
    const root = tempDir(t, 'vendored-streams-other')
    const pkg = join(root, 'execnet')
    cpSync(join(repoRoot, 'dist'), join(pkg, 'dist'), { recursive: true })
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(repoRoot, 'package.json')))
    const modules = join(pkg, 'node_modules')
    mkdirSync(modules)
    for (const name of readdirSync(join(repoRoot, 'node_modules'))) {
      if (name.startsWith('.')) continue
      if (STREAM_PACKAGES.includes(name)) cpSync(join(repoRoot, 'node_modules', name), join(modules, name), { recursive: true })
      else symlinkSync(join(repoRoot, 'node_modules', name), join(modules, name))
    }
    const base = basename(changed)
    if (changed !== base) cpSync(join(repoRoot, 'node_modules', base), join(modules, changed), { recursive: true })
    const manifest = join(modules, changed, 'package.json')
    const other = version(base) + '-other'
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')) as object, version: other }))

    const out = run(join(pkg, 'dist', 'index.js'), { EXECNET_CACHE_DIR: '' })
    for (const name of ['readable-stream', 'through2', changed]) {
      t.ok(out.required.some((f) => f.startsWith(join(modules, name) + sep)), `${name} is loaded from node_modules (${changed} ${other})`)
    }
    t.same(out.required.filter((f) => !f.startsWith(modules + sep)), [], 'all of one copy: nothing of another node_modules')
    t.same(out.taken, [0, 10, 20])
    t.same(out.transformed, [1, 2, 3])
  })
}

t.test('READABLE_STREAM=disable: readable-stream\'s own switch, which needs its index', async (t) => {
  const out = run(distIndex, { READABLE_STREAM: 'disable', EXECNET_CACHE_DIR: '' })
  t.ok(out.required.some((f) => /readable-stream/.test(f)), 'node_modules\' readable-stream')
  t.same(out.taken, [0, 10, 20])
  t.same(out.transformed, [1, 2, 3])
})

t.test('the bundle carries the licence of every package in it', async (t) => {
  const text = readFileSync(join(repoRoot, 'dist', 'lib', 'vendor-streams.cjs'), 'utf8')
  const head = text.slice(0, text.indexOf('*/'))
  for (const name of STREAM_PACKAGES) {
    t.match(head, new RegExp(`^${name} ${version(name).replace(/\./g, '\\.')} \\(MIT\\)$`, 'm'), name)
  }
  t.equal((head.match(/^\S+ \d+\.\d+\.\d+ \(\w+\)$/gm) ?? []).length, 7, 'and of no other: seven packages')
})
