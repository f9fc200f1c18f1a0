/**
 * Errors after values, for the decoding transforms. A Readable destroyed
 * with an error stops its consumers short of what its buffer still holds:
 * `for await` reads nothing more from a destroyed stream, pipe() and
 * pipeline() stop flowing at the 'error', and pipeline() destroys the
 * destination with the writes it has not done yet. So a decoder that
 * destroyed itself at a bad byte lost the values of that chunk a consumer
 * had not taken yet (all of them for `for await` at a truncated end); only
 * a flowing 'data' listener, or read() called after the error, got them
 * all. The error is held instead until the values pushed before it are
 * taken, as Channel does with its own errorAfterDrain.
 */
import type { Transform } from '../lib/streams.js'

/** What a pipe destination tells about the values it was given and has not yet written. */
interface Destination {
  readonly writableLength?: number
  readonly destroyed?: boolean
  readonly writableFinished?: boolean
  once: (event: 'unpipe', listener: () => void) => unknown
}

/**
 * How often a pipe destination that still holds values is looked at again:
 * a Writable emits no event when its buffer empties unless a write()
 * returned false ('drain'), so it is polled, only while an error is held.
 */
const DESTINATION_POLL_MS = 5

/**
 * Makes `stream` deliver its values before its error. Returns `fail`: the
 * transform or flush function calls it instead of its callback, which it
 * never calls, so that nothing more is written in and the stream never
 * ends; `fail` destroys the stream with the error once its readable
 * buffer is empty (the consumer has read every value pushed before it)
 * and every destination it is piped to has written what it was given (a
 * pipeline() destroys the destination too, dropping the writes it still
 * holds). The consumer that stops reading holds the error back with the
 * values: it comes when they have been read.
 */
export function errorAfterValues (stream: Transform): (error: Error) => void {
  let held: Error | null = null
  let timer: NodeJS.Timeout | null = null
  const destinations = new Set<Destination>()

  const pending = (d: Destination): boolean => d.destroyed !== true && d.writableFinished !== true && (d.writableLength ?? 0) > 0
  const settle = (): void => {
    if (held === null || timer !== null) return
    if (stream.destroyed) {
      held = null
      return
    }
    if (stream.readableLength > 0) return // the next read() comes back here
    if ([...destinations].some(pending)) {
      timer = setTimeout(() => { timer = null; settle() }, DESTINATION_POLL_MS)
      // a destination nobody reads must not keep the program alive for it
      timer.unref()
      return
    }
    const error = held
    held = null
    stream.destroy(error)
  }

  // every consumer takes values through read(): flowing mode, pipe() and
  // the async iterator call it too. After the call the value is out of the
  // buffer; the destruction waits a tick, so that the value read reaches
  // its consumer (the iterator yields it after read() returns)
  const read = stream.read
  stream.read = function (this: Transform, size?: number): unknown {
    const item: unknown = read.call(this, size)
    if (held !== null && this.readableLength === 0) process.nextTick(settle)
    return item
  }
  const pipe = stream.pipe
  stream.pipe = function <T extends NodeJS.WritableStream>(this: Transform, destination: T, options?: { end?: boolean }): T {
    const d = destination as unknown as Destination
    destinations.add(d)
    d.once('unpipe', () => { destinations.delete(d) })
    return pipe.call(this, destination, options) as T
  }

  return (error: Error): void => {
    if (held !== null || stream.destroyed) return
    held = error
    settle()
  }
}
