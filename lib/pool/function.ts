/** PoolFunction: one Python function over a pool's workers, as a call, an array, an async iterable or a Duplex. */
import type { Duplex } from '../streams.js'
import { callTimeout, type CallOptions } from '../call.js'
import { OptionError, type ItemError } from '../errors.js'
import type { FunctionTarget } from '../function-target.js'
import { CallRun, StreamRun, type Scheduler, type StreamRunOptions } from './run.js'
import { transformOf } from './transform.js'

/**
 * Options of map(), imap() and transform().
 * @category Calls and pools
 */
export interface MapOptions {
  /** 'throw' (default): an input whose call fails fails the whole (with an ItemError); 'yield': its ItemError takes the result's place. */
  errors?: 'throw' | 'yield'
  /** Seconds each input may take on a worker; past it, the input fails with TimeoutError and its worker is replaced. Inputs with a timeout go one per message. */
  timeout?: number
  /** Times an input is sent again after its worker was lost (default: the pool's retries). */
  retries?: number
  /** Inputs taken and not yet delivered, at most (default 16384): bounds memory whatever the input's length. */
  window?: number
  /** Aborting fails the run with the signal's reason. */
  signal?: AbortSignal
}

/**
 * Options of imap() and transform().
 * @category Calls and pools
 */
export interface ImapOptions extends MapOptions {
  /** Results in input order (default true) or as they finish. */
  ordered?: boolean
}

/**
 * A Python function on a pool: `await f(x)` is one call on a free worker;
 * `f.map`, `f.imap` and `f.transform` call it once per input, each input
 * being its one argument. Values come back as from gw.function (None is
 * null, except in transform(), where a stream cannot carry null and None
 * is the None value; generators are drained into arrays).
 * @category Calls and pools
 */
export interface PoolFunction<R = unknown> {
  (...args: unknown[]): Promise<R>
  /** One call with keyword arguments and options; a timeout counts the time on a worker, and replaces that worker when it expires. */
  invoke: (args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>> | null, options?: CallOptions) => Promise<R>
  /** The results of every input, in input order. */
  map: {
    (inputs: Iterable<unknown> | AsyncIterable<unknown>, options?: MapOptions & { errors?: 'throw' }): Promise<R[]>
    (inputs: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions & { errors: 'yield' }): Promise<Array<R | ItemError>>
  }
  /** The results as an async iterable, pulling the input (any iterable, sync or async) only as fast as they are consumed. */
  imap: {
    (inputs: Iterable<unknown> | AsyncIterable<unknown>, options?: ImapOptions & { errors?: 'throw' }): AsyncIterableIterator<R>
    (inputs: Iterable<unknown> | AsyncIterable<unknown>, options: ImapOptions & { errors: 'yield' }): AsyncIterableIterator<R | ItemError>
  }
  /** An object-mode Duplex: inputs written, results read, with backpressure both ways (`pipeline(source, f.transform(), sink)`). */
  transform: (options?: ImapOptions) => Duplex
  /** The Python function's name. */
  readonly name: string
}

/**
 * Default of MapOptions.window.
 * @category Calls and pools
 */
export const DEFAULT_WINDOW_ITEMS = 16384

/** @internal Make the PoolFunction for a target on a pool. */
export function poolFunction<R> (scheduler: Scheduler, target: FunctionTarget, retries: number): PoolFunction<R> {
  let calls: CallRun | null = null
  const invoke = async (args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>> | null, options: CallOptions = {}): Promise<R> => {
    if (!Array.isArray(args)) throw new OptionError('invoke() takes the positional arguments as an array')
    const timeout = callTimeout(options.timeout)
    const signal = options.signal ?? null
    if (signal?.aborted === true) throw signal.reason
    calls ??= new CallRun(scheduler, target, retries)
    const run = calls
    return await new Promise<R>((resolve, reject) => {
      const kw = kwargs !== null && kwargs !== undefined && Object.keys(kwargs).length > 0 ? new Map(Object.entries(kwargs)) : null
      const item = run.add(args, kw, timeout, signal, (value, error) => {
        signal?.removeEventListener('abort', onAbort)
        error === null ? resolve(value as R) : reject(error)
      })
      // not yet on a worker: it just leaves the queue (on a worker, the pool handles it)
      function onAbort (): void { if (!item.sent) run.settle(item, undefined, signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason))) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
  const streamOptions = (options: ImapOptions, ordered: boolean): StreamRunOptions => ({
    ordered,
    errors: options.errors ?? 'throw',
    window: wholeOf(options.window, DEFAULT_WINDOW_ITEMS, 'window'),
    timeout: callTimeout(options.timeout),
    retries: wholeOf(options.retries, retries, 'retries'),
    signal: options.signal ?? null
  })
  const imap = (inputs: Iterable<unknown> | AsyncIterable<unknown>, options: ImapOptions = {}): StreamRun => {
    if (inputs === null || typeof inputs !== 'object' || !(Symbol.iterator in inputs || Symbol.asyncIterator in inputs)) throw new OptionError('imap() takes an iterable or async iterable of inputs')
    return new StreamRun(scheduler, target, inputs, streamOptions(options, options.ordered ?? true))
  }
  const map = async (inputs: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions = {}): Promise<unknown[]> => {
    // an array's results are as many: made at that length, not grown a push at a time
    const results: unknown[] = Array.isArray(inputs) ? new Array(inputs.length) : []
    // the whole result is kept anyway: no window needed beyond the input's length
    const run = imap(inputs, { window: Number.MAX_SAFE_INTEGER, ...options, ordered: true })
    results.length = await run.collect(results)
    return results
  }
  const f = async (...args: unknown[]): Promise<R> => await invoke(args)
  Object.defineProperty(f, 'name', { value: target.name })
  return Object.assign(f, {
    invoke,
    map,
    imap,
    transform: (options: ImapOptions = {}) => transformOf((inputs) => imap(inputs, options))
  }) as PoolFunction<R>
}

function wholeOf (value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < (what === 'retries' ? 0 : 1)) throw new OptionError(`${what} must be a whole number >= ${what === 'retries' ? 0 : 1}, not ${String(value)}`)
  return value
}
