/**
 * Frames to bytes: `{code, channelId, payload}` becomes the '!bii' header
 * followed by the payload; FrameBatch gathers small frames per tick.
 */
import { HEADER_SIZE, isMessageCode, writeHeader } from './frame.js'
import { OptionError } from '../errors.js'
import { cutScratch } from '../scratch.js'

/**
 * A frame to write: message code, channel id, payload.
 * @category Wire format (low level)
 */
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

/** The payload's length; execnet's header holds it in an int32. */
function payloadLength (chunks: readonly Uint8Array[]): number {
  let length = 0
  for (const c of chunks) length += c.length
  if (length > INT32_MAX) throw new OptionError(`frame payload of ${length} bytes exceeds execnet's int32 length`)
  return length
}

/** Write the header at target[at], and after it a small payload (length < INLINE); returns where they end. */
function writeFrame (target: Buffer, at: number, frame: OutgoingFrame, chunks: readonly Uint8Array[], length: number): number {
  writeHeader(target, at, frame.code, frame.channelId, length)
  at += HEADER_SIZE
  if (length >= INLINE) return at
  for (const c of chunks) {
    target.set(c, at)
    at += c.length
  }
  return at
}

/** A large payload's chunks as Buffers, written as they are. */
function asBuffers (chunks: readonly Uint8Array[]): Buffer[] {
  return chunks.map((c) => Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength))
}

/**
 * Encode one frame as the buffers to write, header first. With `extensions`, our CHANNEL_CREDIT is allowed too.
 * @category Wire format (low level)
 */
export function encodeFrame (frame: OutgoingFrame, extensions = false): Buffer[] {
  const chunks = chunksOf(frame, extensions)
  const length = payloadLength(chunks)
  const inline = length < INLINE
  const out = Buffer.allocUnsafe(HEADER_SIZE + (inline ? length : 0))
  writeFrame(out, 0, frame, chunks, length)
  return inline ? [out] : [out, ...asBuffers(chunks)]
}

/** Small frames written in one tick are joined up to this size before they are pushed. */
const COALESCE_LIMIT = 64 * 1024

/**
 * Gathers encoded frames for one output: small frames written in the same
 * tick leave as one chunk on the next tick (or as soon as 64 KiB gather), so
 * a burst of small messages costs the pipe one write and the worker one read
 * instead of one each; large payloads go out as they are, without a copy.
 * Small frames are written, header and payload, straight into one gathering
 * buffer: no buffer per frame, and no join. Shared by frameEncoder() and the
 * gateway's FramePipe.
 */
export class FrameBatch {
  private buf: Buffer = Buffer.allocUnsafeSlow(COALESCE_LIMIT)
  private pos = 0
  private scheduled = false
  private readonly flushLater = (): void => { this.scheduled = false; this.flush() }

  /**
   * `out` takes each chunk; `outMany` takes a large frame whole (its
   * header, with the small frames gathered before it, and its payload), for
   * an output that can write several buffers in one go (a socket's writev).
   * By default it hands them to `out` one by one.
   */
  constructor (
    private readonly out: (chunk: Buffer) => void,
    private readonly extensions = false,
    private readonly outMany: (chunks: Buffer[]) => void = (chunks) => { for (const c of chunks) out(c) }
  ) {}

  /** Encode a frame (throws OptionError for a malformed one, before anything is queued). */
  add (frame: OutgoingFrame): void {
    const chunks = chunksOf(frame, this.extensions)
    const length = payloadLength(chunks)
    const inline = length < INLINE
    if (this.pos + HEADER_SIZE + (inline ? length : 0) > COALESCE_LIMIT) this.flush()
    this.pos = writeFrame(this.buf, this.pos, frame, chunks, length)
    if (!inline) {
      // the header leaves with the frames before it, the payload as it is
      this.outMany([this.cut(), ...asBuffers(chunks)])
      return
    }
    if (!this.scheduled) {
      this.scheduled = true
      process.nextTick(this.flushLater)
    }
  }

  /** Hand out what is gathered now (written later: never reused after). */
  flush (): void {
    if (this.pos > 0) this.out(this.cut())
  }

  /** What is gathered, cut out of the buffer (never reused after). */
  private cut (): Buffer {
    const { chunk, scratch } = cutScratch(this.buf, this.pos)
    this.buf = scratch
    this.pos = 0
    return chunk
  }
}
