/**
 * An imap as an object-mode Duplex. Written inputs go into a small queue
 * the run pulls from; a write's callback waits until the run took it, so a
 * writer is held back as soon as the run's window is full (backpressure
 * in). Results are pushed as the consumer reads (backpressure out). One
 * Duplex of its own, not an assembly of streams, so pumpify has nothing to
 * join here.
 */
import { Duplex } from '../streams.js'
import { None, PyNone } from '../serializer/types.js'

type Callback = (error?: Error | null) => void

/** @internal Wrap `run` (an imap over the async iterable it is given) as a Duplex. */
export function transformOf (run: (inputs: AsyncIterable<unknown>) => AsyncIterableIterator<unknown>): Duplex {
  const queue: Array<{ value: unknown, callback: Callback }> = []
  let ended = false
  let wakeInput: (() => void) | null = null
  const wake = (): void => {
    const w = wakeInput
    wakeInput = null
    w?.()
  }
  const inputs: AsyncIterable<unknown> = {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<unknown>> => {
        while (queue.length === 0 && !ended) await new Promise<void>((resolve) => { wakeInput = resolve })
        const entry = queue.shift()
        if (entry === undefined) return { value: undefined, done: true }
        entry.callback()
        return { value: entry.value instanceof PyNone ? null : entry.value, done: false }
      }
    })
  }
  const results = run(inputs)
  let reading = false
  const duplex: Duplex = new Duplex({
    objectMode: true,
    write (value: unknown, _encoding: BufferEncoding, callback: Callback) {
      queue.push({ value, callback })
      wake()
    },
    final (callback: Callback) {
      ended = true
      wake()
      callback()
    },
    read () {
      if (reading) return
      reading = true
      void (async () => {
        try {
          for (;;) {
            const r = await results.next()
            if (r.done === true) { duplex.push(null); return }
            // an object-mode stream ends at null: None travels as the None value
            if (!duplex.push(r.value === null ? None : r.value)) return
          }
        } catch (err) {
          duplex.destroy(err as Error)
        } finally {
          reading = false
        }
      })()
    },
    destroy (error: Error | null, callback: (error: Error | null) => void) {
      ended = true
      wake()
      void results.return?.()
      for (const entry of queue.splice(0)) entry.callback(error ?? new Error('the transform was destroyed'))
      callback(error)
    }
  })
  return duplex
}
