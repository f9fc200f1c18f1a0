/**
 * Frame objects in, execnet message bytes out (see lib/wire/encode.ts).
 */
import { transform, type Transform } from '../lib/streams.js'
import { FrameBatch, type OutgoingFrame } from '../lib/wire/encode.js'

/**
 * Options of frameEncoder().
 * @category Wire format (low level)
 */
export interface FrameEncoderOptions {
  /** Allow our CHANNEL_CREDIT frames (only between our own master and worker). */
  extensions?: boolean
}

/**
 * An object-mode-in, bytes-out Transform writing execnet frames, small ones
 * gathered per tick (see FrameBatch).
 * @category Wire format (low level)
 */
export function frameEncoder (options: FrameEncoderOptions = {}): Transform {
  let batch: FrameBatch | null = null
  return transform({ writableObjectMode: true, readableObjectMode: false }, function (this: Transform, frame: OutgoingFrame, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    batch ??= new FrameBatch((chunk) => { this.push(chunk) }, options.extensions === true)
    try {
      batch.add(frame)
    } catch (err) {
      callback(err as Error)
      return
    }
    callback()
  }, function (this: Transform, callback: (err?: Error | null) => void) {
    batch?.flush()
    callback()
  })
}
