/**
 * The gateway's link to its worker: frames in, frames out, as one
 * object-mode Duplex over the worker's byte streams. Writes go frame
 * encoder -> the worker's stdin; the worker's stdout goes frame decoder ->
 * reads. It does what frameEncoder() | stdio | frameDecoder() assembled with
 * pumpify does, with the same FrameBatch and FrameReader, but without the
 * two Transforms and the duplexify between them: each of those stream
 * layers costs a buffer, a callback and a tick per small message, and a
 * ping-pong is nothing but small messages.
 */
import { Duplex, finished, type Readable, type Writable } from '../streams.js'
import { FrameBatch, type OutgoingFrame } from './encode.js'
import { FrameReader, type FrameDecoderOptions } from './decode.js'
import type { Frame } from './frame.js'

/** Frames buffered for a reader that does not take them, before the worker's stdout is paused. */
const READ_AHEAD = 1024

export class FramePipe extends Duplex {
  private readonly input: Writable
  private readonly output: Readable
  private readonly reader: FrameReader
  private readonly batch: FrameBatch
  /** A write's callback, waiting for the worker's stdin to drain. */
  private heldCallback: (() => void) | null = null
  /** Why the worker's stdin failed, once it did. */
  private inputError: Error | null = null
  private readonly emitFrame = (frame: Frame): void => {
    if (!this.push(frame)) this.output.pause()
  }

  constructor (input: Writable, output: Readable, options: FrameDecoderOptions = {}) {
    super({ objectMode: true, readableHighWaterMark: READ_AHEAD, writableHighWaterMark: 16 })
    this.input = input
    this.output = output
    this.reader = new FrameReader(options)
    // a large frame's header, head and payload in one writev: written one
    // by one they cost the master three more system calls per frame and
    // woke the worker for each
    this.batch = new FrameBatch((chunk) => { input.write(chunk) }, options.extensions === true, (chunks) => {
      input.cork()
      for (const chunk of chunks) input.write(chunk)
      input.uncork()
    })
    input.on('drain', () => { this.releaseHeld() })
    // a failed input (EPIPE: the worker died) must not cut off what the
    // worker wrote before it died: writes stop, and the frames it sent are
    // still read to their end; the owner hears of it as 'inputError'
    input.on('error', (err: Error) => {
      if (this.inputError !== null) return
      this.inputError = err
      // the owner hears first, so the 'drain' the released write causes is
      // not taken for room to send
      this.emit('inputError', err)
      this.releaseHeld()
    })
    // the output is done when it ended, errored or only closed (a destroyed
    // socket emits nothing else): every way but 'end' destroys this side
    finished(output, { writable: false }, (err) => {
      if (err != null && !this.destroyed) this.destroy(err)
    })
    output.on('data', (chunk: Buffer) => {
      try {
        this.reader.write(chunk, this.emitFrame)
      } catch (err) {
        this.destroy(err as Error)
      }
    })
    output.on('end', () => {
      try {
        this.reader.end()
      } catch (err) {
        this.destroy(err as Error)
        return
      }
      this.push(null)
    })
  }

  override _read (): void {
    this.output.resume()
  }

  override _write (frame: OutgoingFrame, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.inputError !== null) {
      // nobody reads them any more; the owner was told
      callback()
      return
    }
    try {
      this.batch.add(frame)
    } catch (err) {
      callback(err as Error)
      return
    }
    // stdin refused the last chunk: the next write waits for its 'drain'
    if (this.input.writableNeedDrain) this.heldCallback = callback
    else callback()
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (this.inputError === null) {
      this.batch.flush()
      this.input.end()
    }
    callback()
  }

  private releaseHeld (): void {
    const callback = this.heldCallback
    this.heldCallback = null
    callback?.()
  }

  override _destroy (err: Error | null, callback: (err: Error | null) => void): void {
    this.releaseHeld()
    this.input.destroy()
    this.output.destroy()
    callback(err)
  }
}
