/**
 * Values in, execnet bytes out: each object written becomes one complete
 * versioned dump, so a stream of one object is exactly a `data.py23` file
 * as execnet.dumps writes it, and a stream of many is their concatenation.
 */
import { transform, type Transform } from '../lib/streams.js'
import { Encoder } from '../lib/serializer/dumps.js'
import type { FormatVersion } from '../lib/serializer/opcodes.js'

/**
 * Options of encoder().
 * @category Streams
 */
export interface EncoderOptions {
  /** Format version byte: 2 (execnet 2.x, the default) or 1 (execnet 1.x). */
  version?: FormatVersion
  /** Deepest container nesting accepted (default 1000). */
  maxDepth?: number
}

/**
 * An object-mode-in, bytes-out Transform: one versioned dump per value
 * written, so its output is a .py23 file. To write Python's None, write the
 * `None` constant (an object stream cannot carry null); a value dumps
 * cannot write destroys the stream with a DumpError naming where it is.
 *
 * @example
 * ```ts
 * import { createWriteStream } from 'node:fs'
 * import { Readable } from 'node:stream'
 * import { pipeline } from 'node:stream/promises'
 * import { encoder } from 'execnet'
 *
 * await pipeline(Readable.from([{ n: 1 }, { n: 2 }]), encoder({ version: 1 }), createWriteStream('records.py23'))
 * ```
 * @category Streams
 */
export function encoder (options: EncoderOptions = {}): Transform {
  const enc = new Encoder(options)
  const version = options.version ?? 2
  return transform({ writableObjectMode: true, readableObjectMode: false }, function (this: Transform, value: unknown, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    let chunks: Buffer[]
    try {
      chunks = enc.encodeChunks(value, version)
    } catch (err) {
      callback(err as Error)
      return
    }
    for (const chunk of chunks) this.push(chunk)
    callback()
  })
}
