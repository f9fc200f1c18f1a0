/**
 * The built package's modules, compiled through V8's code cache, as Python
 * keeps .pyc files beside modules (and as our worker keeps its code, see
 * lib/python/loader.py).
 *
 * The build (scripts/bundle.mjs) makes the package one CommonJS bundle.
 * Compiling its 260 KB was a third of `import('execnet')` on every cold
 * start, and the functions a first gateway runs were compiled again, one by
 * one, on the way to the first result. V8 can hand back what it compiled
 * (vm.Script's createCachedData, taken once the process has run, so the
 * functions it compiled lazily are in it too) and take it again at the next
 * compile. Node 22 has this for every module behind module.enableCompileCache(),
 * a switch for the whole process, which is the application's to turn, not a
 * library's; Node 20 has only vm.Script. So the package keeps its own.
 *
 * The cache is one file per bundle (the package's, the command line's) and
 * version (the build's hash of it: V8 checks a cache only against the
 * source's length), V8 version and architecture,
 * in $EXECNET_CACHE_DIR or ~/.cache/execnet-master (XDG_CACHE_HOME is
 * honoured; an empty EXECNET_CACHE_DIR turns the cache off). A cache is code
 * that will run: it is read only from a directory and a file that belong to
 * the user and that nobody else may write to. A missing or rejected one is
 * written when the process exits, in one rename, so a process that reads it
 * meanwhile sees all of it or none; the files of the bundle's other versions
 * for the same V8 go then, as they are never read again.
 */
import { Script } from 'node:vm'
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What loading a bundle did with its cache (the tests read it). */
export type CacheOutcome = 'off' | 'missing' | 'rejected' | 'accepted'

/** A loaded bundle: its exports, and what became of its code cache. */
export interface LoadedBundle {
  exports: Record<string, unknown>
  cache: CacheOutcome
  /** The cache file, when there is a place for one. */
  file: string | undefined
}

/** Where the cache files go, or undefined for none. */
export function cacheDirectory (env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env.EXECNET_CACHE_DIR
  if (named !== undefined) return named === '' ? undefined : named
  const home = env.XDG_CACHE_HOME ?? join(homedir(), '.cache')
  return join(home, 'execnet-master')
}

/** Owned by this user, and writable by nobody else. */
function isPrivate (st: Stats): boolean {
  return (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0
}

/** The cache's bytes, if a private file holds them. */
function readCache (dir: string, file: string): Buffer | undefined {
  try {
    if (!isPrivate(statSync(dir))) return undefined
    const fd = openSync(file, 'r')
    try {
      if (!isPrivate(fstatSync(fd))) return undefined
      return readFileSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined // missing or unreadable: compiled from the source, as without a cache
  }
}

/** Write `data` as `file` in one rename; a failure costs the next start its cache, nothing more. */
function writeCache (dir: string, file: string, data: Buffer, stale: (name: string) => boolean): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (!isPrivate(statSync(dir))) return
    const temporary = `${file}.${process.pid}.tmp`
    const fd = openSync(temporary, 'wx', 0o600)
    try {
      writeSync(fd, data)
    } finally {
      closeSync(fd)
    }
    try {
      renameSync(temporary, file)
    } catch {
      unlinkSync(temporary)
      return
    }
    for (const other of readdirSync(dir)) if (stale(other)) unlinkSync(join(dir, other))
  } catch {
    // a read-only or full disk: the next process compiles again
  }
}

/**
 * Load the CommonJS bundle `name` at `url` (whose `import.meta.url` the
 * build turned into the free variable __bundleUrl), through the code cache
 * of its version `key`.
 */
export function loadBundle (url: URL, name: string, key: string, env: NodeJS.ProcessEnv = process.env): LoadedBundle {
  const filename = fileURLToPath(url)
  // a command line's hashbang, which esbuild keeps, as a comment: no line moves
  const source = readFileSync(filename, 'utf8').replace(/^#!/, '//')
  const dir = cacheDirectory(env)
  const runtime = `-v8-${process.versions.v8}-${process.arch}.cache`
  const file = dir === undefined ? undefined : join(dir, `${name}-${key}${runtime}`)
  const cachedData = dir === undefined || file === undefined ? undefined : readCache(dir, file)
  // the wrapper Node's CommonJS loader puts around a module, and the bundle's URL
  const wrapper = `(function (exports, require, module, __filename, __dirname, __bundleUrl) {${source}\n})`
  const script = new Script(wrapper, { filename, cachedData })
  const cache: CacheOutcome = dir === undefined ? 'off' : cachedData === undefined ? 'missing' : script.cachedDataRejected === true ? 'rejected' : 'accepted'
  if (dir !== undefined && file !== undefined && cache !== 'accepted') {
    // at exit, so the functions this process compiled lazily are in it
    const stale = (other: string): boolean => other.startsWith(`${name}-`) && other.endsWith(runtime) && other !== basename(file)
    process.once('exit', () => { writeCache(dir, file, script.createCachedData(), stale) })
  }
  const module = { exports: {} as Record<string, unknown> }
  const run = script.runInThisContext() as (...args: unknown[]) => void
  run(module.exports, createRequire(filename), module, filename, dirname(filename), url.href)
  return { exports: module.exports, cache, file }
}
