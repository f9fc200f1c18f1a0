// The master's side of the code cache (lib/code-cache.ts): the built
// package and command line are compiled through V8's code cache, kept
// between processes. Written when a process without a usable one exits,
// read by the next; never read from a file or directory someone else could
// have written, and a broken file is one V8 refuses, after which the source
// is compiled as if there were none. Each case is a fresh `node` process,
// as a cold start is.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import * as source from '../index.js'
import { repoRoot } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'

const loader = pathToFileURL(join(repoRoot, 'dist', 'lib', 'code-cache.js')).href
const dir = tempDir(t, 'master-code-cache')
const bundle = join(dir, 'bundle.cjs')
// a bundle as the build writes one: CommonJS, its URL as __bundleUrl, a
// function that runs only when called (compiled lazily, and cached once it ran)
writeFileSync(bundle, [
  "const { basename } = require('node:path')",
  'function lazy (x) { return x * 2 }',
  'exports.answer = lazy(21)',
  'exports.url = __bundleUrl',
  'exports.name = basename(__filename)',
  ''
].join('\n'))

interface Loaded { cache: string, answer: number, url: string, name: string, file: string | null }

/** Load the bundle in a fresh process with this cache directory (undefined: the variable unset, '' : off). */
function load (cacheDir: string | undefined, key = 'k1'): Loaded {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg') }
  if (cacheDir === undefined) delete env.EXECNET_CACHE_DIR
  else env.EXECNET_CACHE_DIR = cacheDir
  const program = `import { loadBundle } from ${JSON.stringify(loader)}
const r = loadBundle(new URL(${JSON.stringify(pathToFileURL(bundle).href)}), 'fixture', ${JSON.stringify(key)})
console.log(JSON.stringify({ cache: r.cache, file: r.file ?? null, ...r.exports }))`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { env, encoding: 'utf8', timeout: 60000 })
  if (r.status !== 0) throw new Error(`node exited with ${String(r.status)}: ${r.stderr}`)
  return JSON.parse(r.stdout) as Loaded
}

const mode = (path: string): number => statSync(path).mode & 0o777

t.test('written at the first exit, read at the next start, its module runs either way', async (t) => {
  const cache = join(dir, 'cache')
  const first = load(cache)
  t.equal(first.cache, 'missing')
  t.equal(first.answer, 42)
  t.equal(first.url, pathToFileURL(bundle).href, '__bundleUrl is the bundle\'s URL')
  t.equal(first.name, 'bundle.cjs', 'require and __filename are the bundle\'s')
  t.ok(first.file !== null && existsSync(first.file), 'the cache file exists once the process has exited')
  t.equal(mode(cache), 0o700, 'the directory is private')
  t.equal(mode(first.file as string), 0o600, 'the file is private')
  const size = statSync(first.file as string).size
  t.ok(size > 0)
  const second = load(cache)
  t.equal(second.cache, 'accepted')
  t.equal(second.answer, 42)
  t.equal(statSync(second.file as string).size, size, 'an accepted cache is not written again')
  t.same(readdirSync(cache).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left')
})

t.test('a new version of the bundle replaces the old one\'s file', async (t) => {
  const cache = join(dir, 'versions')
  const old = load(cache, 'v1')
  t.equal(load(cache, 'v2').cache, 'missing', 'another version does not read the old one\'s file')
  t.notOk(existsSync(old.file as string), 'the old version\'s file is gone')
  t.equal(readdirSync(cache).length, 1)
})

t.test('a broken cache is refused by V8, the source compiled, the file written again', async (t) => {
  const cache = join(dir, 'broken')
  const first = load(cache)
  const file = first.file as string
  writeFileSync(file, Buffer.alloc(4096, 0xab), { mode: 0o600 })
  const broken = load(cache)
  t.equal(broken.cache, 'rejected')
  t.equal(broken.answer, 42)
  t.equal(load(cache).cache, 'accepted', 'rewritten at the exit of the process that refused it')
})

t.test('a file or directory others may write to is never read', async (t) => {
  const cache = join(dir, 'foreign')
  const file = load(cache).file as string
  chmodSync(file, 0o666)
  t.equal(load(cache).cache, 'missing', 'a world-writable file is not read')
  t.equal(mode(file), 0o600, 'it is replaced by a private one at exit')
  t.equal(load(cache).cache, 'accepted')
  chmodSync(cache, 0o777)
  const before = statSync(file).mtimeMs
  t.equal(load(cache).cache, 'missing', 'nothing is read from a world-writable directory')
  t.equal(statSync(file).mtimeMs, before, 'nor written to it')
})

t.test('where the cache is, and when there is none', async (t) => {
  const off = load('')
  t.equal(off.cache, 'off', 'an empty EXECNET_CACHE_DIR turns it off')
  t.equal(off.file, null)
  t.equal(off.answer, 42)
  const xdg = load(undefined)
  t.equal(xdg.cache, 'missing')
  t.equal(xdg.file?.startsWith(join(dir, 'xdg', 'execnet-master') + '/'), true, 'under XDG_CACHE_HOME by default')
  t.equal(load(undefined).cache, 'accepted')
})

t.test('the built package: the same exports as its sources, a gateway through the cached bundle', async (t) => {
  const cache = join(dir, 'package')
  const program = `const execnet = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'index.js')).href)})
const gw = await execnet.makeGateway('popen')
const channel = gw.remoteExec('channel.send(channel.receive() * 2)')
channel.send(21)
const value = await channel.receive()
await gw.terminate()
console.log(JSON.stringify({ names: Object.keys(execnet).sort(), value }))`
  const run = (): { names: string[], value: number } => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { env: { ...process.env, EXECNET_CACHE_DIR: cache }, encoding: 'utf8', timeout: 60000 })
    if (r.status !== 0) throw new Error(`node exited with ${String(r.status)}: ${r.stderr}`)
    return JSON.parse(r.stdout) as { names: string[], value: number }
  }
  const first = run()
  t.same(first.names, Object.keys(source).sort(), 'dist/index.js exports what index.ts does')
  t.equal(first.value, 42)
  // the worker keeps its compiled code in the same directory (lib/python/loader.py)
  const files = readdirSync(cache).filter((f) => !f.startsWith('worker-')).sort()
  // the package's bundle, and readable-stream's with through2 (lib/streams.ts)
  t.equal(files.length, 2)
  t.match(files[0], /^package-[0-9a-f]{20}-v8-/)
  t.match(files[1], /^streams-[0-9a-f]{20}-v8-/)
  const mtimes = files.map((f) => statSync(join(cache, f)).mtimeMs)
  t.equal(run().value, 42, 'a gateway works from the cached code')
  t.same(files.map((f) => statSync(join(cache, f)).mtimeMs), mtimes, 'the second process read both caches, it did not write them')
})

t.test('the command line has its own', async (t) => {
  const cache = join(dir, 'cli')
  for (let i = 0; i < 2; i++) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'bin', 'execnet.js'), '--version'], { env: { ...process.env, EXECNET_CACHE_DIR: cache }, encoding: 'utf8', timeout: 60000 })
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /^\d+\.\d+\.\d+/)
  }
  t.match(readdirSync(cache), [/^cli-[0-9a-f]{20}-v8-/])
})
