/**
 * execnet message bytes in, frame objects out (see lib/wire/decode.ts).
 */
import { transform, type Transform, type ValueTransform } from '../lib/streams.js'
import type { Frame } from '../lib/wire/frame.js'
import { errorAfterValues } from './after-values.js'
import { FrameReader, type FrameDecoderOptions } from '../lib/wire/decode.js'

export type { FrameDecoderOptions }

/**
 * A bytes-in, object-mode-out Transform emitting `{code, channelId, payload}`
 * per execnet message. Malformed headers and input ending inside a frame
 * destroy the stream with a DataFormatError carrying the stream offset,
 * once every frame before the fault has been read (see errorAfterValues).
 * @category Wire format (low level)
 */
export function frameDecoder (options: FrameDecoderOptions = {}): ValueTransform<Frame> {
  const reader = new FrameReader(options)
  const stream: Transform = transform({ writableObjectMode: false, readableObjectMode: true }, function (this: Transform, chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    try {
      reader.write(chunk, (frame) => { this.push(frame) })
    } catch (err) {
      // not callback(err): that destroys the stream, dropping the values
      // pushed before the fault that the consumer has not read yet
      fail(err as Error)
      return
    }
    callback()
  }, function (callback: (err?: Error | null) => void) {
    try {
      reader.end()
    } catch (err) {
      fail(err as Error) // the same: the values before the end first
      return
    }
    callback()
  })
  const fail = errorAfterValues(stream)
  return stream as ValueTransform<Frame> // its items are the frames pushed above
}
