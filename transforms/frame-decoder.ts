/**
 * execnet message bytes in, frame objects out (see lib/wire/decode.ts).
 */
import { transform } from 'through2'
import type { Transform } from 'readable-stream'
import { FrameReader, type FrameDecoderOptions } from '../lib/wire/decode.js'

export type { FrameDecoderOptions }

/**
 * A bytes-in, object-mode-out Transform emitting `{code, channelId, payload}`
 * per execnet message. Malformed headers and input ending inside a frame
 * destroy the stream with a DataFormatError carrying the stream offset.
 */
export function frameDecoder (options: FrameDecoderOptions = {}): Transform {
  const reader = new FrameReader(options)
  return transform({ writableObjectMode: false, readableObjectMode: true }, function (this: Transform, chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    try {
      reader.write(chunk, (frame) => { this.push(frame) })
    } catch (err) {
      callback(err as Error)
      return
    }
    callback()
  }, function (callback: (err?: Error | null) => void) {
    try {
      reader.end()
    } catch (err) {
      callback(err as Error)
      return
    }
    callback()
  })
}
