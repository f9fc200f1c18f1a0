/**
 * execnet message bytes in, frame objects out. Headers cut by a chunk
 * boundary are completed from the next chunk; payloads are gathered without
 * re-reading, and a payload inside one chunk is handed out without a copy.
 */
import { DataFormatError } from '../errors.js'
import { DEFAULT_MAX_FRAME_SIZE, HEADER_SIZE, isMessageCode, messageCodeName, type Frame, type MessageCodeValue } from './frame.js'
import { checkSizeOption } from '../serializer/limits.js'

/**
 * Options of frameDecoder() and FrameReader.
 * @category Wire format (low level)
 */
export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes (default 512 MiB); a larger header is a DataFormatError. */
  maxFrameSize?: number
  /** Accept our CHANNEL_CREDIT frames too (only between our own master and worker). */
  extensions?: boolean
}

interface Partial {
  code: MessageCodeValue
  channelId: number
  parts: Buffer[]
  length: number
  remaining: number
  offset: number
}

/**
 * Splits a byte stream into frames; one per execnet message.
 * @category Wire format (low level)
 */
export class FrameReader {
  private readonly maxFrameSize: number
  private readonly extensions: boolean
  private header: Buffer | null = null
  private partial: Partial | null = null
  private consumed = 0
  private failed: DataFormatError | null = null

  constructor (options: FrameDecoderOptions = {}) {
    this.maxFrameSize = checkSizeOption(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE, 'maxFrameSize')
    this.extensions = options.extensions === true
  }

  /** Bytes consumed so far. */
  get offset (): number {
    return this.consumed
  }

  /** True between frames. */
  get idle (): boolean {
    return this.header === null && this.partial === null
  }

  /** Feed bytes (cut anywhere); each complete frame goes to emit. Throws DataFormatError on a malformed header. */
  write (chunk: Buffer, emit: (frame: Frame) => void): void {
    if (this.failed !== null) throw this.failed
    try {
      this.feed(chunk, emit)
    } catch (err) {
      if (err instanceof DataFormatError) this.failed = err
      throw err
    }
  }

  /** The input ended: throws DataFormatError when it ended inside a frame. */
  end (): void {
    if (this.failed !== null) throw this.failed
    if (this.partial !== null) {
      const f = this.partial
      this.failed = new DataFormatError(`input ends inside a ${messageCodeName(f.code)} frame: ${f.remaining} of its ${f.length} payload bytes missing`, f.offset)
    } else if (this.header !== null) {
      this.failed = new DataFormatError(`input ends inside a frame header (${this.header.length} of ${HEADER_SIZE} bytes)`, this.consumed - this.header.length)
    } else {
      return
    }
    throw this.failed
  }

  private feed (chunk: Buffer, emit: (frame: Frame) => void): void {
    let p = 0
    const n = chunk.length
    while (p < n) {
      const f = this.partial
      if (f !== null) {
        const take = Math.min(f.remaining, n - p)
        f.parts.push(chunk.subarray(p, p + take))
        f.remaining -= take
        p += take
        this.consumed += take
        if (f.remaining === 0) {
          this.partial = null
          emit({ code: f.code, channelId: f.channelId, payload: Buffer.concat(f.parts, f.length) })
        }
        continue
      }
      let head: Buffer
      let at: number
      if (this.header !== null) {
        const need = HEADER_SIZE - this.header.length
        const got = chunk.subarray(p, p + need)
        this.header = Buffer.concat([this.header, got])
        p += got.length
        this.consumed += got.length
        if (this.header.length < HEADER_SIZE) return
        head = this.header
        at = 0
        this.header = null
      } else if (n - p < HEADER_SIZE) {
        this.header = Buffer.from(chunk.subarray(p))
        this.consumed += n - p
        return
      } else {
        head = chunk
        at = p
        p += HEADER_SIZE
        this.consumed += HEADER_SIZE
      }
      const offset = this.consumed - HEADER_SIZE
      const code = head.readInt8(at)
      const channelId = head.readInt32BE(at + 1)
      const length = head.readInt32BE(at + 5)
      if (!isMessageCode(code, this.extensions)) {
        throw new DataFormatError(`unknown message code ${code} in frame header ${head.subarray(at, at + HEADER_SIZE).toString('hex')}`, offset)
      }
      if (length < 0) throw new DataFormatError(`${messageCodeName(code)} frame with negative length ${length}`, offset)
      if (length > this.maxFrameSize) {
        throw new DataFormatError(`${messageCodeName(code)} frame of ${length} bytes exceeds maxFrameSize (${this.maxFrameSize})`, offset)
      }
      if (n - p >= length) {
        emit({ code, channelId, payload: chunk.subarray(p, p + length) })
        p += length
        this.consumed += length
      } else {
        this.partial = { code, channelId, parts: [], length, remaining: length, offset }
      }
    }
  }
}
