/**
 * The stream classes, in one place. At run time they are readable-stream's
 * (the design card's: the same streams on every Node release we support);
 * in the types they are node:stream's, which readable-stream mirrors, so the
 * published declarations name only `node:stream` and a user's project needs
 * nothing beyond @types/node to type-check a Channel or a decoder().
 */
import { createRequire } from 'node:module'
import { Readable as NodeReadable } from 'node:stream'
import type * as node from 'node:stream'

const require = createRequire(import.meta.url)

/** What of readable-stream this package uses. */
interface Streams { Duplex: typeof node.Duplex, finished: typeof node.finished }

let streams: Streams | undefined

/**
 * readable-stream, loaded on first use: a gateway loads it once its
 * interpreter is starting (Gateway.start), not at the package's import.
 * Only the files Duplex and finished need (15-25 ms): its index also builds
 * pipeline, compose and the stream operators, as long again, while the
 * interpreter is already waiting. The operators (map, filter, toArray...),
 * which its index adds to Readable.prototype and our types promise (they are
 * node:stream's), are there too: see lazyOperators.
 */
export function loadStreams (): Streams {
  if (streams === undefined) {
    // readable-stream's own switch: with READABLE_STREAM=disable its index
    // hands out node:stream's classes and loads nothing more
    const { Duplex, finished } = process.env.READABLE_STREAM === 'disable'
      ? require('readable-stream') as Streams
      : {
          Duplex: require('readable-stream/lib/internal/streams/duplex.js') as typeof node.Duplex,
          finished: require('readable-stream/lib/internal/streams/end-of-stream.js') as typeof node.finished
        }
    streams = { Duplex, finished }
    // from here on, the stand-in below is readable-stream's Duplex in
    // every way a subclass or an instanceof can tell
    Object.setPrototypeOf(LazyDuplex.prototype, Duplex.prototype)
    Object.setPrototypeOf(LazyDuplex, Duplex)
    lazyOperators(Object.getPrototypeOf(Duplex) as typeof node.Readable)
  }
  return streams
}

/**
 * Each method node:stream's Readable has and readable-stream's lacks until
 * its index is loaded (the operators: the names are node:stream's, so the
 * list follows the Node release) becomes a getter that loads the index,
 * which puts its own method in the getter's place. A name the index does
 * not define is removed again, as if it had never been there.
 */
function lazyOperators (Readable: typeof node.Readable): void {
  const proto = Readable.prototype as unknown as Record<string, unknown>
  for (const name of Object.getOwnPropertyNames(NodeReadable.prototype)) {
    if (name in proto || typeof Object.getOwnPropertyDescriptor(NodeReadable.prototype, name)?.value !== 'function') continue
    const get = function (this: Record<string, unknown>): unknown {
      require('readable-stream')
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

let through: (<T>(options: node.TransformOptions, step: Step<T>, flush?: Flush) => node.Transform) | undefined

/** through2's transform in its classic form, typed as a node:stream Transform (see above); through2 is loaded at the first call. */
export function transform<T> (options: node.TransformOptions, step: Step<T>, flush?: Flush): node.Transform {
  // an ES module, loaded by require() (Node >= 20.19) so the factories stay synchronous
  through ??= (require('through2') as { transform: typeof through }).transform
  return (through as NonNullable<typeof through>)(options, step, flush)
}

/**
 * A Transform whose readable side carries T: `for await` over it gives T, not any.
 * @category Streams
 */
export interface ValueTransform<T> extends Transform {
  /** Each item the readable side gives, as T. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>
}
