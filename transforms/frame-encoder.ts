/**
 * Frame objects in, execnet message bytes out: `{code, channelId, payload}`
 * becomes the '!bii' header followed by the payload.
 */
import { transform } from 'through2'
import type { Transform } from 'readable-stream'
import { HEADER_SIZE, isMessageCode, writeHeader } from '../lib/frames.js'
import { OptionError } from '../lib/errors.js'

/** A frame to write: message code, channel id, payload. */
export interface OutgoingFrame {
  code: number
  channelId: number
  /** The payload, or the chunks that make it up (as Encoder.encodeChunks returns them). */
  payload: Uint8Array | readonly Uint8Array[]
}

/** Payloads smaller than this are copied next to their header, so a small message is one write. */
const INLINE = 16 * 1024
const INT32_MAX = 2147483647

/** Checks a frame and returns the list of its payload chunks. */
function chunksOf (frame: OutgoingFrame, extensions: boolean): readonly Uint8Array[] {
  if (frame === null || typeof frame !== 'object') throw new OptionError('a frame must be an object {code, channelId, payload}')
  if (!isMessageCode(frame.code, extensions)) throw new OptionError(`frame code must be one of execnet's message codes 0..7, not ${String(frame.code)}`)
  if (!Number.isInteger(frame.channelId) || frame.channelId < -INT32_MAX - 1 || frame.channelId > INT32_MAX) {
    throw new OptionError(`frame channelId must be an int32, not ${String(frame.channelId)}`)
  }
  if (frame.payload instanceof Uint8Array) return [frame.payload]
  if (Array.isArray(frame.payload) && frame.payload.every((c) => c instanceof Uint8Array)) return frame.payload
  throw new OptionError('frame payload must be a Buffer/Uint8Array or an array of them')
}

/** Encode one frame as the buffers to write, header first. With `extensions`, our CHANNEL_CREDIT is allowed too. */
export function encodeFrame (frame: OutgoingFrame, extensions = false): Buffer[] {
  const chunks = chunksOf(frame, extensions)
  let length = 0
  for (const c of chunks) length += c.length
  if (length > INT32_MAX) throw new OptionError(`frame payload of ${length} bytes exceeds execnet's int32 length`)
  if (length < INLINE) {
    const out = Buffer.allocUnsafe(HEADER_SIZE + length)
    writeHeader(out, 0, frame.code, frame.channelId, length)
    let at = HEADER_SIZE
    for (const c of chunks) {
      out.set(c, at)
      at += c.length
    }
    return [out]
  }
  const header = Buffer.allocUnsafe(HEADER_SIZE)
  writeHeader(header, 0, frame.code, frame.channelId, length)
  return [header, ...chunks.map((c) => Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength))]
}

/** Small frames written in one tick are joined up to this size before they are pushed. */
const COALESCE_LIMIT = 64 * 1024

/** Options of frameEncoder(). */
export interface FrameEncoderOptions {
  /** Allow our CHANNEL_CREDIT frames (only between our own master and worker). */
  extensions?: boolean
}

/**
 * An object-mode-in, bytes-out Transform writing execnet frames. Small
 * frames written in the same tick leave as one chunk, pushed on the next
 * tick (or as soon as 64 KiB gather): a burst of small messages then costs
 * the pipe one write, and the worker one read, instead of one each. Large
 * payloads are pushed as they are, without a copy.
 */
export function frameEncoder (options: FrameEncoderOptions = {}): Transform {
  const extensions = options.extensions === true
  let pending: Buffer[] = []
  let size = 0
  let scheduled = false
  const flushPending = (stream: Transform): void => {
    scheduled = false
    if (pending.length === 0) return
    const out = pending.length === 1 ? pending[0] as Buffer : Buffer.concat(pending, size)
    pending = []
    size = 0
    stream.push(out)
  }
  return transform({ writableObjectMode: true, readableObjectMode: false }, function (this: Transform, frame: OutgoingFrame, _enc: BufferEncoding, callback: (err?: Error | null) => void) {
    let out: Buffer[]
    try {
      out = encodeFrame(frame, extensions)
    } catch (err) {
      callback(err as Error)
      return
    }
    for (const b of out) {
      if (b.length >= INLINE) {
        flushPending(this)
        this.push(b)
      } else {
        pending.push(b)
        size += b.length
      }
    }
    if (size >= COALESCE_LIMIT) {
      flushPending(this)
    } else if (pending.length > 0 && !scheduled) {
      scheduled = true
      process.nextTick(flushPending, this)
    }
    callback()
  }, function (this: Transform, callback: (err?: Error | null) => void) {
    flushPending(this)
    callback()
  })
}
