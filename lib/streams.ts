/**
 * The stream classes, in one place. At run time they are readable-stream's
 * (the design card's: the same streams on every Node release we support),
 * from the build's bundle of it where that holds the installed version;
 * in the types they are node:stream's, which readable-stream mirrors, so the
 * published declarations name only `node:stream` and a user's project needs
 * nothing beyond @types/node to type-check a Channel or a decoder().
 */
import { createRequire } from 'node:module'
import { readFileSync, realpathSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { Readable as NodeReadable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type * as node from 'node:stream'
import { loadBundle } from './code-cache.js'

const require = createRequire(import.meta.url)

/** through2's module, as much of it as this package uses. */
interface Through2 { transform: <T>(options: node.TransformOptions, step: Step<T>, flush?: Flush) => node.Transform }

/** What of readable-stream (and through2) this package uses. */
interface Streams {
  Duplex: typeof node.Duplex
  finished: typeof node.finished
  /** readable-stream's index, loaded on first call: pipeline, compose, the operators. */
  index: () => unknown
  /** through2, on top of the same copy of readable-stream. */
  through2: () => Through2
}

/**
 * The build's bundle of readable-stream and through2 (scripts/bundle.mjs:
 * dist/lib/vendor-streams.cjs), compiled through the code cache: the 20
 * files a gateway needs took 10-15 ms through require(), resolved, read and
 * compiled one by one, longer than the interpreter takes to start, so a
 * cold start waited for them. The build defines this constant in the
 * package's bundles, a VendoredStreams in JSON; running from the sources, it
 * is not defined.
 */
declare const __vendoredStreams: string | undefined
interface VendoredStreams {
  /** The key of the bundle's version, for its code cache. */
  key: string
  /**
   * Each package it holds, with its version as the build found it installed
   * and every package it is required from (null: from ours), the first of
   * them listed before it.
   */
  versions: Array<{ name: string, version: string, from: Array<string | null> }>
}

let streams: Streams | undefined

/**
 * readable-stream, loaded on first use: a gateway loads it once its
 * interpreter is starting (Gateway.start), not at the package's import.
 * Only the files Duplex and finished need: its index also builds pipeline,
 * compose and the stream operators, as long again, while the interpreter is
 * already waiting. The operators (map, filter, toArray...), which its index
 * adds to Readable.prototype and our types promise (they are node:stream's),
 * are there too: see lazyOperators.
 */
export function loadStreams (): Streams {
  if (streams === undefined) {
    streams = vendoredStreams() ?? installedStreams()
    const { Duplex } = streams
    // from here on, the stand-in below is readable-stream's Duplex in
    // every way a subclass or an instanceof can tell
    Object.setPrototypeOf(LazyDuplex.prototype, Duplex.prototype)
    Object.setPrototypeOf(LazyDuplex, Duplex)
    lazyOperators(Object.getPrototypeOf(Duplex) as typeof node.Readable, streams.index)
  }
  return streams
}

/** readable-stream and through2 from node_modules, by require(). */
function installedStreams (): Streams {
  // readable-stream's own switch: with READABLE_STREAM=disable its index
  // hands out node:stream's classes and loads nothing more
  const { Duplex, finished } = process.env.READABLE_STREAM === 'disable'
    ? require('readable-stream') as Streams
    : {
        Duplex: require('readable-stream/lib/internal/streams/duplex.js') as typeof node.Duplex,
        finished: require('readable-stream/lib/internal/streams/end-of-stream.js') as typeof node.finished
      }
  return {
    Duplex,
    finished,
    index: () => require('readable-stream'),
    // an ES module, loaded by require() (Node >= 20.19) so the factories stay synchronous
    through2: () => require('through2') as Through2
  }
}

/**
 * The build's bundle, where there is one and every package in it is the
 * version installed where it would be required from: a dependency updated
 * in place (a fix within its ranges, readable-stream's own dependencies
 * too) is loaded from node_modules, as it would be without the bundle, and
 * so is readable-stream under READABLE_STREAM=disable.
 */
function vendoredStreams (): Streams | undefined {
  if (typeof __vendoredStreams === 'undefined' || process.env.READABLE_STREAM === 'disable') return undefined
  const vendored = JSON.parse(__vendoredStreams) as VendoredStreams
  const ours = dirname(fileURLToPath(import.meta.url))
  const dirs = new Map<string, string>()
  const find = (requirer: string | null | undefined, name: string): { dir: string, version: string } | undefined => {
    const start = requirer === null ? ours : requirer === undefined ? undefined : dirs.get(requirer)
    return start === undefined ? undefined : installed(start, name)
  }
  // each package from its first requirer, at the version the bundle holds
  for (const { name, version, from } of vendored.versions) {
    const found = find(from[0], name)
    if (found === undefined || found.version !== version) return undefined
    dirs.set(name, found.dir)
  }
  // and from every other requirer, that same copy (through2 requires the
  // readable-stream ours does, not one nested in it)
  for (const { name, from } of vendored.versions) {
    for (let i = 1; i < from.length; i++) {
      if (find(from[i], name)?.dir !== dirs.get(name)) return undefined
    }
  }
  return loadBundle(new URL('./vendor-streams.cjs', import.meta.url), 'streams', vendored.key).exports as unknown as Streams
}

/**
 * The package `name` where require() from a file in `from` finds it, by
 * Node's walk up the node_modules directories: its directory (the real
 * path, as Node resolves its own requires from) and its version; undefined
 * where it is not found so (NODE_PATH, Plug'n'Play: node_modules is used
 * then). Reading the manifests in place, not require.resolve():
 * resolving through2's exports alone took 1.1-1.9 ms of a cold start.
 */
function installed (from: string, name: string): { dir: string, version: string } | undefined {
  for (let dir = from; ;) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name)
      let text: string | undefined
      try {
        text = readFileSync(join(candidate, 'package.json'), 'utf8')
      } catch {
        // not here: one up
      }
      if (text !== undefined) {
        try {
          const version = (JSON.parse(text) as { version?: unknown }).version
          return typeof version === 'string' ? { dir: realpathSync.native(candidate), version } : undefined
        } catch {
          return undefined // unreadable: node_modules' require() says what is wrong
        }
      }
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/**
 * Each method node:stream's Readable has and readable-stream's lacks until
 * its index is loaded (the operators: the names are node:stream's, so the
 * list follows the Node release) becomes a getter that loads the index,
 * which puts its own method in the getter's place. A name the index does
 * not define is removed again, as if it had never been there.
 */
function lazyOperators (Readable: typeof node.Readable, index: () => unknown): void {
  const proto = Readable.prototype as unknown as Record<string, unknown>
  for (const name of Object.getOwnPropertyNames(NodeReadable.prototype)) {
    if (name in proto || typeof Object.getOwnPropertyDescriptor(NodeReadable.prototype, name)?.value !== 'function') continue
    const get = function (this: Record<string, unknown>): unknown {
      index()
      if (Object.getOwnPropertyDescriptor(proto, name)?.get === get) Reflect.deleteProperty(proto, name)
      return this[name]
    }
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: false,
      get,
      // an assignment makes an own property, as it would over a method
      set (this: object, value: unknown) { Object.defineProperty(this, name, { value, writable: true, configurable: true, enumerable: true }) }
    })
  }
}

/**
 * A stand-in for readable-stream's Duplex that classes can extend before
 * readable-stream is loaded (Channel, FramePipe): constructing one loads it
 * and builds the object with readable-stream's own constructor, for the
 * subclass that is being constructed.
 */
class LazyDuplex {
  constructor (options?: node.DuplexOptions) {
    // a constructor that returns an object gives the subclass that object as `this`
    return Reflect.construct(loadStreams().Duplex, [options], new.target) as LazyDuplex
  }
}

export const Duplex = LazyDuplex as unknown as typeof node.Duplex
export type Duplex = node.Duplex
export type Readable = node.Readable
export type Writable = node.Writable
export type Transform = node.Transform
export const finished = ((...args: Parameters<typeof node.finished>) => loadStreams().finished(...args)) as typeof node.finished

/** One transform step, through2's classic form. */
type Step<T> = (this: node.Transform, chunk: T, encoding: BufferEncoding, callback: node.TransformCallback) => void
type Flush = (this: node.Transform, callback: node.TransformCallback) => void

/** through2's transform in its classic form, typed as a node:stream Transform (see above); through2 is loaded at the first call. */
export function transform<T> (options: node.TransformOptions, step: Step<T>, flush?: Flush): node.Transform {
  return loadStreams().through2().transform(options, step, flush)
}

/**
 * A Transform whose readable side carries T: `for await` over it gives T, not any.
 * @category Streams
 */
export interface ValueTransform<T> extends Transform {
  /** Each item the readable side gives, as T. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>
}
