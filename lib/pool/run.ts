/**
 * Runs: what a pool's workers take batches from. A run holds its inputs
 * ready to go (re-runs first), settles each once with its value or error,
 * and delivers results its way: CallRun to each call's promise, StreamRun
 * to an ordered or unordered async iterator (map and transform are built
 * on it). A run pulls its input only while fewer than `window` inputs are
 * taken and not yet delivered, so memory stays bounded whatever the
 * input's length, and a slow consumer slows the pulling.
 *
 * Inputs travel as PoolItems. Small plain inputs (numbers, booleans) of a
 * StreamRun share one item, CHUNK at most: the bookkeeping per item (its
 * queueing, its settling, its garbage) was most of the master's time for
 * tiny calls. An item is split when a batch has room for part of it, or
 * when a loss makes its inputs go again in smaller batches.
 */
import { Fifo } from '../fifo.js'
import { ItemError } from '../errors.js'
import type { FunctionTarget } from '../function-target.js'
import { estimateSize, MAX_BATCH } from './batch.js'

/** Inputs on their way through a pool: one call, or a chunk of small one-argument inputs. */
export interface PoolItem {
  /** Its first input's position in the run. */
  readonly index: number
  /** The calls it holds (1, or up to CHUNK for small inputs of a StreamRun). */
  readonly count: number
  /** What it adds to a batch's payload: its inputs (StreamRun), or [args, kwargs | null] (CallRun). */
  readonly wire: readonly unknown[]
  /** Its encoded size, estimated once (lib/pool/batch.ts). */
  readonly size: number
  /** Times it was lost with its worker while alone there: the losses it may have caused. */
  attempts: number
  /**
   * The most calls its batch may hold (never below its count). 1 means
   * alone on an otherwise idle worker: an input with a timeout (its time
   * there must be its own), or one lost again and again in smaller
   * batches (see Run.lost).
   */
  batchMax: number
  settled: boolean
  /** On a worker now (a timeout or abort then needs that worker replaced). */
  sent: boolean
  /** Seconds it may take on a worker, or null. */
  readonly timeout: number | null
  readonly signal: AbortSignal | null
}

/** What a run needs from its pool. */
export interface Scheduler {
  /** The run has work: give it to free workers. */
  wake: (run: Run) => void
  /** The run is over: forget it. */
  remove: (run: Run) => void
}

/** Inputs ready to be sent, per run: enough for every worker's next batches (two of MAX_BATCH). */
const READY_MAX = 131072
/** Free room in a run's window that makes it pull more input, at most (see pull): a full batch's worth. */
const REFILL = MAX_BATCH
/** Small inputs per PoolItem, at most. */
export const CHUNK = 64

/** The cause of a batch's call at this position, or null when it returned. */
export type ErrorOf = ((call: number) => Error | null) | null

export abstract class Run {
  /** Re-runs, sent before new inputs. */
  protected readonly again = new Fifo<PoolItem>()
  protected readonly ready = new Fifo<PoolItem>()
  /** Calls in `ready` (an item may hold several). */
  protected readyCalls = 0
  /** The run is over (finished, failed or given up): nothing more is sent or delivered. */
  over = false

  constructor (
    protected readonly scheduler: Scheduler,
    readonly target: FunctionTarget,
    /** Calls take one argument each ('m' batches) or [args, kwargs] pairs ('c'). */
    readonly single: boolean,
    readonly retries: number
  ) {}

  /** Whether an item waits to be sent. */
  get hasWork (): boolean {
    if (this.over) return false
    this.dropSettled()
    return this.again.length > 0 || this.ready.length > 0
  }

  /** Whether the next batch must be alone on its worker (its item travels alone). */
  get nextExclusive (): boolean {
    const head = this.again.peek() ?? this.ready.peek()
    return head !== undefined && head.batchMax === 1
  }

  /** Items of up to `max` calls (fewer when one's batchMax says so), about `maxBytes` at most, for one batch. */
  take (max: number, maxBytes: number): PoolItem[] {
    const items: PoolItem[] = []
    let calls = 0
    let bytes = 0
    let limit = max
    fill: for (const queue of [this.again, this.ready]) {
      while (calls < limit) {
        let item = queue.peek()
        if (item === undefined) break
        if (item.settled) { queue.shift(); continue }
        const room = Math.min(limit, item.batchMax) - calls
        if (room <= 0) break fill // an item that wants a smaller batch starts the next one
        if (calls > 0 && bytes + item.size > maxBytes) break fill
        queue.shift()
        if (queue === this.ready) this.readyCalls -= Math.min(item.count, room)
        if (item.count > room) {
          // a part fits: the rest stays first in its queue
          const [head, rest] = split(item, room)
          queue.unshift(rest)
          item = head
        }
        items.push(item)
        calls += item.count
        bytes += item.size
        limit = Math.min(limit, item.batchMax)
      }
    }
    this.afterTake()
    return items
  }

  /**
   * The item's worker was lost before it answered. Alone there, the loss is
   * counted, and it goes again unless it has been tried too often. Lost
   * among others (any of which may have caused it), it goes again uncounted
   * in a batch half the size (`batchCalls`, the lost batch's calls): an
   * input that crashes its worker is isolated in a few halvings and spends
   * only its own retries, while inputs lost to a plain kill go again in big
   * batches.
   */
  lost (item: PoolItem, reason: Error, batchCalls: number, alone: boolean): void {
    if (item.settled || this.over) return
    if (!alone) {
      const batchMax = Math.max(1, Math.min(item.batchMax, Math.ceil(batchCalls / 2)))
      let rest = item
      while (rest.count > batchMax) {
        const [head, tail] = split(rest, batchMax)
        head.batchMax = batchMax
        this.resend(head)
        rest = tail
      }
      rest.batchMax = batchMax
      this.resend(rest)
      return
    }
    item.sent = false
    item.attempts++
    if (item.attempts > this.retries) {
      this.settle(item, undefined, new (reason.constructor as new (m: string) => Error)(`${reason.message} (lost ${item.attempts} times, the retry limit is ${this.retries})`))
      return
    }
    this.again.push(item)
    this.scheduler.wake(this)
  }

  /** Send it again without counting an attempt (e.g. its worker was killed for another item's timeout). */
  resend (item: PoolItem): void {
    if (item.settled || this.over) return
    item.sent = false
    this.again.push(item)
    this.scheduler.wake(this)
  }

  /** A one-call item's outcome, once: its value, or the error's cause (a StreamRun makes it an ItemError). */
  settle (item: PoolItem, value: unknown, error: Error | null): void {
    if (item.settled) return
    item.settled = true
    if (this.over) return
    this.deliver(item, [value], 0, error === null ? null : () => error)
  }

  /**
   * A batch's outcomes, in its order: its call i gave `values[i]`, or the
   * cause `errorOf(i)` gives. One call per batch, so a run does per batch
   * what need not be done per call.
   */
  settleBatch (items: readonly PoolItem[], values: readonly unknown[], errorOf: ErrorOf): void {
    let offset = 0
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as PoolItem
      if (!item.settled) {
        item.settled = true
        if (!this.over) this.deliver(item, values, offset, errorOf)
      }
      offset += item.count
    }
    this.afterBatch()
  }

  /** After settleBatch (a StreamRun pulls then, not per result). */
  protected afterBatch (): void {}

  /** What the user gave as the item's j-th input (for ItemError). */
  abstract inputOf (item: PoolItem, j: number): unknown
  /** The item's calls gave values[offset...] (or the causes errorOf tells, by batch position). */
  protected abstract deliver (item: PoolItem, values: readonly unknown[], offset: number, errorOf: ErrorOf): void
  /** End the run with this error (the pool closed, or has no workers left). */
  abstract fail (error: Error): void
  /** Room was made among the ready items: pull more input. */
  protected afterTake (): void {}

  private dropSettled (): void {
    while (this.again.peek()?.settled === true) this.again.shift()
    while (this.ready.peek()?.settled === true) this.ready.shift()
  }
}

/** Whether an input may share an item with others (see CHUNK): a plain number or boolean. */
function chunkable (value: unknown): boolean {
  const kind = typeof value
  return kind === 'number' || kind === 'boolean'
}

function newItem (index: number, wire: readonly unknown[], count: number, size: number, timeout: number | null, signal: AbortSignal | null): PoolItem {
  return { index, count, wire, size, attempts: 0, batchMax: timeout === null ? Infinity : 1, settled: false, sent: false, timeout, signal }
}

/** The item's first `n` calls and the rest, as two items (only chunks of one-argument inputs are split). */
function split (item: PoolItem, n: number): [PoolItem, PoolItem] {
  const perCall = item.size / item.count
  const head = { ...item, count: n, wire: item.wire.slice(0, n), size: perCall * n }
  const rest = { ...item, index: item.index + n, count: item.count - n, wire: item.wire.slice(n), size: perCall * (item.count - n) }
  return [head, rest]
}

/** Single calls of a pool function (f(x), f.invoke()): each settles its own promise. */
export class CallRun extends Run {
  private readonly callbacks = new Map<PoolItem, (value: unknown, error: Error | null) => void>()
  private nextIndex = 0

  constructor (scheduler: Scheduler, target: FunctionTarget, retries: number) {
    super(scheduler, target, false, retries)
  }

  /** Queue one call; `done` gets its value or error. Returns the item (a timeout or abort settles it). */
  add (args: readonly unknown[], kwargs: Map<string, unknown> | null, timeout: number | null, signal: AbortSignal | null, done: (value: unknown, error: Error | null) => void): PoolItem {
    const item = newItem(this.nextIndex++, [args, kwargs], 1, estimateSize(args) + (kwargs === null ? 1 : estimateSize([...kwargs.values()])), timeout, signal)
    this.callbacks.set(item, done)
    this.ready.push(item)
    this.readyCalls++
    this.scheduler.wake(this)
    return item
  }

  inputOf (item: PoolItem): unknown {
    return item.wire[0]
  }

  fail (error: Error): void {
    const pending = [...this.callbacks.keys()]
    for (const item of pending) this.settle(item, undefined, error)
  }

  protected deliver (item: PoolItem, values: readonly unknown[], offset: number, errorOf: ErrorOf): void {
    const done = this.callbacks.get(item)
    this.callbacks.delete(item)
    // nothing pending: the pool forgets this run until its next call (a pool function made per request must not pile up)
    if (this.callbacks.size === 0) this.scheduler.remove(this)
    // one call: its promise rejects with the cause itself, as gw.function's would
    const error = errorOf?.(offset) ?? null
    done?.(error === null ? values[offset] ?? null : undefined, error)
  }
}

/** How a StreamRun delivers: in input order or as results come, failing on an item's error or yielding it. */
export interface StreamRunOptions {
  ordered: boolean
  errors: 'throw' | 'yield'
  /** Inputs taken and not yet delivered, at most (bounds memory; ordered results wait for the slowest). */
  window: number
  timeout: number | null
  retries: number
  signal: AbortSignal | null
}

type Outcome = { ok: true, value: unknown } | { ok: false, error: Error }

/** An ordered run's results that came before those ahead of them: an item's values and causes. */
interface Early { item: PoolItem, values: unknown[], errors: Array<Error | null> | null }

/**
 * Who takes the results: one pending next() of the async iterator, or a
 * collector (map) that takes each as it is delivered, without a promise
 * per result, until the end.
 */
type Consumer =
  | { kind: 'next', resolve: (r: IteratorResult<unknown>) => void, reject: (e: unknown) => void }
  | { kind: 'collect', into: unknown[], at: number, resolve: (count: number) => void, reject: (e: unknown) => void }

/** One map/imap/transform: pulls an (async) iterable, yields results through its async iterator. */
export class StreamRun extends Run implements AsyncIterableIterator<unknown> {
  private readonly source: Iterator<unknown> | AsyncIterator<unknown>
  private readonly sync: boolean
  /** A plain array's inputs are read by index (no iterator result per input), from `cursor` on. */
  private readonly array: readonly unknown[] | null
  private cursor = 0
  private pulling = false
  private inputDone = false
  private pulled = 0
  private delivered = 0
  /** Results not yet given to the consumer (in order, when ordered). */
  private readonly out = new Fifo<Outcome>()
  /** Ordered: results that came before those ahead of them. */
  private readonly early = new Map<number, Early>()
  private nextOut = 0
  private failure: Error | null = null
  private consumer: Consumer | null = null
  private readonly onAbort: () => void

  constructor (scheduler: Scheduler, target: FunctionTarget, input: Iterable<unknown> | AsyncIterable<unknown>, private readonly options: StreamRunOptions) {
    super(scheduler, target, true, options.retries)
    if (Symbol.asyncIterator in input) {
      this.source = (input as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      this.sync = false
    } else {
      this.source = (input as Iterable<unknown>)[Symbol.iterator]()
      this.sync = true
    }
    // its own iterator only when Array's: a subclass or a patched one may yield otherwise
    this.array = Array.isArray(input) && input[Symbol.iterator] === Array.prototype[Symbol.iterator] ? input : null
    const signal = options.signal
    this.onAbort = () => { this.fail(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason))) }
    if (signal !== null) {
      if (signal.aborted) queueMicrotask(this.onAbort)
      else signal.addEventListener('abort', this.onAbort, { once: true })
    }
    queueMicrotask(() => { this.pull() })
  }

  [Symbol.asyncIterator] (): this {
    return this
  }

  next (): Promise<IteratorResult<unknown>> {
    if (this.consumer !== null) return Promise.reject(new Error(`imap: next() called while ${this.consumer.kind === 'next' ? 'a next() is pending' : 'the results are being collected'}`))
    const outcome = this.out.shift()
    if (outcome !== undefined) return this.give(outcome)
    if (this.failure !== null) return Promise.reject(this.failure)
    if (this.finished || this.over) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => { this.consumer = { kind: 'next', resolve, reject } })
  }

  /**
   * Take every result, in delivery order, as it is delivered (map): stored
   * in `into` from index 0 on (the value, or with errors 'yield' the
   * ItemError; `into` may be made at its final length beforehand). Resolves
   * after the last with how many; rejects as next() would. Cheaper than next() per
   * result, and than a callback per result (a closure call per value was 8%
   * of a tiny map's master time).
   */
  collect (into: unknown[]): Promise<number> {
    if (this.consumer !== null) return Promise.reject(new Error('imap: collect() called while the results are being read'))
    return new Promise((resolve, reject) => {
      const consumer: Consumer = { kind: 'collect', into, at: 0, resolve, reject }
      this.consumer = consumer
      for (let o = this.out.shift(); o !== undefined && this.consumer === consumer; o = this.out.shift()) this.hand(consumer, o)
      if (this.consumer !== consumer) return
      if (this.failure !== null) {
        this.consumer = null
        reject(this.failure)
      } else if (this.finished || this.over) {
        this.end()
      }
    })
  }

  /** The consumer left early (break in for await): stop. */
  async return (): Promise<IteratorResult<unknown>> {
    this.stop()
    return { value: undefined, done: true }
  }

  /** Fail the run: the consumer's next read throws `error`. */
  fail (error: Error): void {
    if (this.over) return
    this.failure = error
    this.stop()
    const consumer = this.consumer
    if (consumer !== null) {
      this.consumer = null
      consumer.reject(error)
    }
  }

  inputOf (item: PoolItem, j: number): unknown {
    return item.wire[j]
  }

  protected deliver (item: PoolItem, values: readonly unknown[], offset: number, errorOf: ErrorOf): void {
    const n = item.count
    let errors: Array<Error | null> | null = null
    if (errorOf !== null) {
      for (let j = 0; j < n; j++) {
        const cause = errorOf(offset + j)
        if (cause !== null) (errors ??= new Array<Error | null>(n).fill(null))[j] = cause
      }
    }
    if (!this.options.ordered) {
      this.emit(item, values, offset, errors)
      return
    }
    if (item.index !== this.nextOut) {
      this.early.set(item.index, { item, values: values.slice(offset, offset + n), errors })
      return
    }
    this.emit(item, values, offset, errors)
    this.nextOut += n
    for (let e = this.early.get(this.nextOut); e !== undefined && !this.over; e = this.early.get(this.nextOut)) {
      this.early.delete(this.nextOut)
      this.emit(e.item, e.values, 0, e.errors)
      this.nextOut += e.item.count
    }
  }

  /** An item's results to the consumer, in its order. */
  private emit (item: PoolItem, values: readonly unknown[], offset: number, errors: Array<Error | null> | null): void {
    const n = item.count
    const consumer = this.consumer
    if (errors === null && consumer !== null && consumer.kind === 'collect') {
      // map's usual case: straight to the collector, no Outcome per value
      // (no pull per value: only batches deliver values, and afterBatch pulls)
      const into = consumer.into
      let at = consumer.at
      for (let j = 0; j < n; j++) into[at++] = values[offset + j] ?? null
      consumer.at = at
      this.delivered += n
      if (this.finished) this.end()
      return
    }
    for (let j = 0; j < n && !this.over; j++) {
      const cause = errors?.[j] ?? null
      this.push(cause === null
        ? { ok: true, value: values[offset + j] ?? null }
        : { ok: false, error: new ItemError(item.index + j, item.wire[j], cause) })
    }
  }

  protected override afterBatch (): void {
    this.pull()
  }

  protected override afterTake (): void {
    if (this.ready.length < READY_MAX / 2) this.pull()
  }

  private get finished (): boolean {
    return this.inputDone && this.delivered === this.pulled && this.out.length === 0
  }

  private give (outcome: Outcome): Promise<IteratorResult<unknown>> {
    this.delivered++
    this.pull()
    if (!outcome.ok && this.options.errors === 'throw') {
      this.stop()
      return Promise.reject(outcome.error)
    }
    if (this.finished) this.end()
    return Promise.resolve({ value: outcome.ok ? outcome.value : outcome.error, done: false })
  }

  private push (outcome: Outcome): void {
    const consumer = this.consumer
    if (consumer === null) {
      this.out.push(outcome)
    } else if (consumer.kind === 'next') {
      this.consumer = null
      this.give(outcome).then(consumer.resolve, consumer.reject)
    } else {
      this.hand(consumer, outcome)
    }
  }

  /** give(), for a collector: the same counting and ending, no promise. */
  private hand (consumer: Consumer & { kind: 'collect' }, outcome: Outcome): void {
    this.delivered++
    this.pull()
    if (!outcome.ok && this.options.errors === 'throw') {
      this.consumer = null
      this.stop()
      consumer.reject(outcome.error)
      return
    }
    consumer.into[consumer.at++] = outcome.ok ? outcome.value : outcome.error
    if (this.finished) this.end()
  }

  private get room (): boolean {
    return !this.over && !this.inputDone && this.pulled - this.delivered < this.options.window && this.readyCalls < READY_MAX
  }

  /** Queue inputs [first, first + inputs.length) as one item. */
  private add (inputs: unknown[], size: number): void {
    const first = this.pulled
    this.pulled += inputs.length
    this.readyCalls += inputs.length
    this.ready.push(newItem(first, inputs, inputs.length, size, this.options.timeout, null))
  }

  /** pull() from a plain array: runs of numbers and booleans sliced into chunks, the rest one per item. */
  private pullArray (array: readonly unknown[], budget: number, chunking: boolean): void {
    let i = this.cursor
    const end = Math.min(array.length, i + Math.max(0, budget))
    while (i < end) {
      let j = i
      if (chunking) {
        const stop = Math.min(end, i + CHUNK)
        while (j < stop) {
          if (!chunkable(array[j])) break
          j++
        }
      }
      if (j > i) {
        this.add(array.slice(i, j), 9 * (j - i))
        i = j
      } else {
        this.add([array[i]], estimateSize(array[i]))
        i++
      }
    }
    this.cursor = i
    if (i >= array.length) this.inputEnded()
  }

  /** Take input while there is room; an async source one item at a time, a sync one in a loop. */
  private pull (): void {
    if (this.pulling || !this.room) return
    // while inputs wait to be sent, refill only once a good part of the
    // window is free: a pull (and a wake of the pool) per result read, as
    // imap's consumer reads them, cost more than the call
    const free = this.options.window - (this.pulled - this.delivered)
    if (this.readyCalls > 0 && free < Math.min(REFILL, Math.ceil(this.options.window / 2))) return
    this.pulling = true
    if (this.sync) {
      try {
        const source = this.source as Iterator<unknown>
        const before = this.ready.length
        // as many as there is room for, counted once (room is checked per async input)
        let budget = this.room ? Math.min(this.options.window - (this.pulled - this.delivered), READY_MAX - this.readyCalls) : 0
        // small plain inputs gather into chunks (see the file's comment); an input with a timeout goes alone
        const chunking = this.options.timeout === null
        if (this.array !== null) {
          this.pullArray(this.array, budget, chunking)
          if (this.ready.length > before) this.scheduler.wake(this)
          return
        }
        let chunk: unknown[] = []
        while (budget-- > 0) {
          const r = source.next()
          if (r.done === true) break
          const value = r.value
          if (chunking && chunkable(value)) {
            chunk.push(value)
            if (chunk.length === CHUNK) { this.add(chunk, 9 * CHUNK); chunk = [] }
          } else {
            if (chunk.length > 0) { this.add(chunk, 9 * chunk.length); chunk = [] }
            this.add([value], estimateSize(value))
          }
        }
        if (chunk.length > 0) this.add(chunk, 9 * chunk.length)
        if (budget >= 0) this.inputEnded()
        if (this.ready.length > before) this.scheduler.wake(this)
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)))
      } finally {
        this.pulling = false
      }
      return
    }
    void (async () => {
      const source = this.source as AsyncIterator<unknown>
      try {
        while (this.room) {
          const r = await source.next()
          if (this.over) break
          if (r.done === true) { this.inputEnded(); break }
          this.add([r.value], estimateSize(r.value))
          this.scheduler.wake(this)
        }
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)))
      } finally {
        this.pulling = false
      }
    })()
  }

  private inputEnded (): void {
    this.inputDone = true
    if (this.finished) this.end()
  }

  /** Everything was delivered: wake a waiting consumer with done. */
  private end (): void {
    const consumer = this.consumer
    this.finishRun()
    if (consumer === null) return
    this.consumer = null
    if (consumer.kind === 'next') consumer.resolve({ value: undefined, done: true })
    else consumer.resolve(consumer.at)
  }

  private finishRun (): void {
    if (this.over) return
    this.over = true
    this.options.signal?.removeEventListener('abort', this.onAbort)
    this.scheduler.remove(this)
  }

  private stop (): void {
    if (this.over) return
    this.finishRun()
    this.out.drain()
    this.early.clear()
    if (!this.inputDone) {
      this.inputDone = true
      try {
        const done = this.source.return?.()
        if (done instanceof Promise) done.catch(() => {})
      } catch {
        // an input that fails as it is closed has nothing more to say
      }
    }
  }
}
