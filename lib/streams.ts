/**
 * The stream classes, in one place. At run time they are readable-stream's
 * (the design card's: the same streams on every Node release we support);
 * in the types they are node:stream's, which readable-stream mirrors, so the
 * published declarations name only `node:stream` and a user's project needs
 * nothing beyond @types/node to type-check a Channel or a decoder().
 */
import * as rs from 'readable-stream'
import { transform as through } from 'through2'
import type * as node from 'node:stream'

export const Duplex: typeof node.Duplex = rs.Duplex as unknown as typeof node.Duplex
export type Duplex = node.Duplex
export type Readable = node.Readable
export type Writable = node.Writable
export type Transform = node.Transform
export const finished: typeof node.finished = rs.finished as unknown as typeof node.finished

/** One transform step, through2's classic form. */
type Step<T> = (this: node.Transform, chunk: T, encoding: BufferEncoding, callback: node.TransformCallback) => void

/** through2's transform in its classic form, typed as a node:stream Transform (see above). */
export const transform = through as unknown as <T>(options: node.TransformOptions, step: Step<T>, flush?: (this: node.Transform, callback: node.TransformCallback) => void) => node.Transform

/**
 * A Transform whose readable side carries T: `for await` over it gives T, not any.
 * @category Streams
 */
export interface ValueTransform<T> extends Transform {
  /** Each item the readable side gives, as T. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>
}
