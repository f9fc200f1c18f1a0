/**
 * execnet bytes in, values out: `fs.createReadStream('data.py23').pipe(decoder())`.
 * The input may hold many concatenated dumps and be cut anywhere; the Loader
 * resumes where the last chunk ended.
 */
import { transform, type Transform, type ValueTransform } from '../lib/streams.js'
import { errorAfterValues } from './after-values.js'
import { Loader, type LoadOptions } from '../lib/serializer/loads.js'
import { None, noneAsNull } from '../lib/serializer/types.js'

/**
 * Options of decoder(): those of loads(), and whether the dumps are unversioned.
 * @category Streams
 */
export interface DecoderOptions extends LoadOptions {
  /** Read unversioned dumps (the payloads inside execnet frames). Default false. */
  unversioned?: boolean
}

/**
 * A bytes-in, object-mode-out Transform emitting one value per dump: a
 * .py23 file of one or many concatenated dumps, cut anywhere. `for await`
 * gives a top-level Python None as null; 'data' events and pipes carry it
 * as the `None` constant, since a null chunk would end the stream.
 * Malformed input, or input that ends inside a value, destroys the stream
 * with one DataFormatError whose offset counts from the stream's first byte,
 * once every value before the fault has been read.
 *
 * @example
 * ```ts
 * import { createReadStream } from 'node:fs'
 * import { decoder } from 'execnet'
 *
 * for await (const value of createReadStream('data.py23').pipe(decoder({ py2strAsPy3str: true }))) {
 *   console.log(value)
 * }
 * ```
 * @category Streams
 */
export function decoder (options: DecoderOptions = {}): ValueTransform<unknown> {
  const loader = new Loader(options, options.unversioned !== true)
  const stream: Transform = transform({ writableObjectMode: false, readableObjectMode: true }, function (this: Transform, chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    try {
      loader.write(chunk, (value) => { this.push(value === null ? None : value) })
    } catch (err) {
      // not callback(err): that destroys the stream, dropping the values
      // pushed before the fault that the consumer has not read yet
      fail(err as Error)
      return
    }
    callback()
  }, function (callback: (err?: Error | null) => void) {
    try {
      loader.end()
    } catch (err) {
      fail(err as Error) // the same: the values before the end first
      return
    }
    callback()
  })
  const fail = errorAfterValues(stream)
  // None travels the stream as PyNone (a null chunk would end it); a for-await
  // loop gets null, as from every other API that returns a value
  const iterate = stream[Symbol.asyncIterator].bind(stream)
  return Object.assign(stream, {
    async * [Symbol.asyncIterator] (): AsyncGenerator<unknown, void, undefined> {
      for await (const item of iterate()) yield noneAsNull(item)
    }
  })
}
