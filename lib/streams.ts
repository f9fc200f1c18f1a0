/**
 * The stream classes, in one place. At run time they are readable-stream's
 * (the design card's: the same streams on every Node release we support);
 * in the types they are node:stream's, which readable-stream mirrors, so the
 * published declarations name only `node:stream` and a user's project needs
 * nothing beyond @types/node to type-check a Channel or a decoder().
 */
import { createRequire } from 'node:module'
import type * as node from 'node:stream'

const require = createRequire(import.meta.url)

/** What of readable-stream this package uses. */
interface Streams { Duplex: typeof node.Duplex, finished: typeof node.finished }

let streams: Streams | undefined

/**
 * readable-stream, loaded on first use: loading it takes 25-40 ms, as long
 * as starting a Python interpreter, so a gateway loads it once its
 * interpreter is starting (Gateway.start), not at the package's import.
 * All of it, not only Duplex: its index adds the stream operators (map,
 * filter, toArray...) to Readable.prototype, which node:stream's streams
 * have and our types promise.
 */
export function loadStreams (): Streams {
  if (streams === undefined) {
    streams = require('readable-stream') as Streams
    // from here on, the stand-in below is readable-stream's Duplex in
    // every way a subclass or an instanceof can tell
    Object.setPrototypeOf(LazyDuplex.prototype, streams.Duplex.prototype)
    Object.setPrototypeOf(LazyDuplex, streams.Duplex)
  }
  return streams
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
