/**
 * How many items go in one message. A message costs tens of microseconds
 * each way whatever it holds, so tiny calls travel many to a message; a
 * batch is sized to take about BATCH_SECONDS of the worker's time (as it
 * measured the last ones), so a slow function still goes one or a few at a
 * time and the last items of an input are spread over the workers; and to
 * hold about BATCH_BYTES at most, so large values (1 MiB arrays) go one per
 * message through the flow-controlled path.
 */
import { Tuple } from '../serializer/types.js'

/** The worker time one batch should take. */
export const BATCH_SECONDS = 0.01
/**
 * The most items in a batch. Tiny calls are bound by it: at 4096 a map of
 * x * 2 paid a reply, its settling and a refill every 0.6 ms of worker time
 * and the master idled a third of the run (0.82-0.98x multiprocessing's
 * Pool.map); BATCH_SECONDS and BATCH_BYTES bound a batch long before this
 * for anything but the tiniest calls.
 */
export const MAX_BATCH = 65536
/** Items in a worker's first batch, before its speed is known. */
export const FIRST_BATCH = 8
/** The payload a batch should stay under (a batch holds at least one item, whatever its size). */
export const BATCH_BYTES = 256 * 1024

/** Items per batch for a worker that takes `secondsPerItem` (null: not measured yet). */
export function batchItems (secondsPerItem: number | null): number {
  if (secondsPerItem === null) return FIRST_BATCH
  if (secondsPerItem <= 0) return MAX_BATCH
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_SECONDS / secondsPerItem)))
}

/** A cheap guess at a value's encoded size: exact for bytes and strings, sampled in containers, small for the rest. */
export function estimateSize (value: unknown, depth = 0): number {
  if (typeof value === 'string') return value.length + 5
  if (ArrayBuffer.isView(value)) return value.byteLength + 5
  if (value instanceof ArrayBuffer) return value.byteLength + 5
  if (depth < 2 && (Array.isArray(value) || value instanceof Tuple)) {
    const list = value as readonly unknown[]
    const n = list.length
    if (n === 0) return 5
    // a few elements stand for all: a 10^6-element list is not walked per batch
    const sample = Math.min(n, 8)
    let size = 0
    for (let i = 0; i < sample; i++) size += estimateSize(list[Math.floor(i * n / sample)], depth + 1)
    return 5 + size * n / sample
  }
  return 9
}
