/**
 * Pool: workers (gateways of one Group, each with a call server) and the
 * scheduling of runs' inputs onto them. Each worker takes a bounded number
 * of batches at a time; a free worker takes the next batch of the next run
 * with work, runs in turn. A worker whose gateway is lost has its
 * unanswered inputs sent again elsewhere and is replaced from its spec.
 */
import { EventEmitter } from 'node:events'
import { availableParallelism } from 'node:os'
import { Group } from '../group.js'
import { expandSpecs } from '../spec.js'
import type { Gateway, GatewayOptions } from '../gateway.js'
import { DumpError, GatewayClosedError, OptionError, TimeoutError } from '../errors.js'
import type { FunctionOptions } from '../function-target.js'
import { functionTarget } from '../function-target.js'
import { tuple } from '../serializer/types.js'
import { PoolWorker, type InFlight } from './worker.js'
import { BATCH_BYTES, batchItems } from './batch.js'
import type { PoolItem, Run, Scheduler } from './run.js'
import { poolFunction, type PoolFunction } from './function.js'

/**
 * Options of Pool.start().
 * @category Calls and pools
 */
export interface PoolOptions {
  /** Workers started from a single spec (default: the CPUs of this machine). With a list of specs, one worker each and this is not allowed. */
  size?: number
  /** Python source run once in each worker (a replacement too) before any call: imports, a model load. The names it defines are visible to every function. */
  initializer?: string
  /**
   * Times an input is sent again after its worker was lost before answering
   * (default 3): at-least-once. A loss counts against an input only when it
   * was alone on that worker; inputs lost together go again in batches half
   * the size, uncounted, so one that crashes its worker is soon alone and
   * spends only its own retries. Inputs on a worker killed for another's
   * timeout or abort go again uncounted.
   */
  retries?: number
  /** Batches a worker holds at a time (default 2: the next is there when one ends). */
  inFlight?: number
  /** Options of each worker's gateway. */
  gateway?: GatewayOptions
}

/**
 * Events of a Pool.
 * @category Calls and pools
 */
export interface PoolEvents {
  /** A lost worker was replaced: the gateway gone, and the one started from its spec. */
  replaced: [lost: Gateway, replacement: Gateway]
  /** A replacement worker could not be started (the pool goes on with fewer). */
  workerError: [error: Error, spec: string]
}

/** Listener types for PoolEvents. */
export interface Pool {
  /** Listen to a PoolEvents event. */
  on<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this
  /** Listen to a PoolEvents event once. */
  once<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this
  /** Stop listening. */
  off<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this
}

/**
 * Workers for parallel calls of Python functions, as multiprocessing.Pool:
 * `const pool = await Pool.start('popen//python=python3', { size: 4 })`,
 * then `pool.function(source)` for map, imap, transform and single calls.
 *
 * @example
 * ```ts
 * import { Pool } from 'execnet'
 *
 * const pool = await Pool.start('popen//python=python3', { size: 2 })
 * const square = pool.function('def square(x):\n    return x * x')
 * console.log(await square.map([1, 2, 3]))               // [ 1, 4, 9 ]
 * for await (const y of square.imap([4, 5], { ordered: false })) console.log(y)
 * await pool.close()
 * ```
 * @category Calls and pools
 */
export class Pool extends EventEmitter {
  private readonly workers: Array<PoolWorker<PoolItem>> = []
  private readonly runs: Run[] = []
  private starting = 0
  private closed = false
  private pumping = false
  private pumpQueued = false
  private readonly retries: number
  /** What runs call back (kept off the public class). */
  private readonly scheduler: Scheduler = { wake: (run) => { this.wake(run) }, remove: (run) => { this.remove(run) } }

  private constructor (private readonly group: Group, private readonly options: PoolOptions) {
    super()
    this.retries = options.retries ?? 3
  }

  /** Start the workers: `size` from one spec, or one per spec of a list (mixed interpreters and hosts are fine). All or nothing. */
  static async start (spec: string | readonly string[] = 'popen', options: PoolOptions = {}): Promise<Pool> {
    const retries = options.retries ?? 3
    if (!Number.isSafeInteger(retries) || retries < 0) throw new OptionError(`retries must be a whole number >= 0, not ${String(retries)}`)
    const inFlight = options.inFlight ?? 2
    if (!Number.isSafeInteger(inFlight) || inFlight < 1) throw new OptionError(`inFlight must be a whole number >= 1, not ${String(inFlight)}`)
    let specs: string[]
    if (typeof spec === 'string') {
      const size = options.size ?? availableParallelism()
      if (!Number.isSafeInteger(size) || size < 1) throw new OptionError(`size must be a whole number >= 1, not ${String(size)}`)
      specs = Array.from({ length: size }, () => spec)
    } else {
      if (options.size !== undefined) throw new OptionError('size goes with one spec; a list of specs gives one worker each')
      // 4*SPEC is four workers of SPEC, as in Group.makeGateways
      specs = expandSpecs(spec)
      if (specs.length === 0) throw new OptionError('a pool needs at least one spec')
    }
    const group = new Group(options.gateway ?? {})
    const pool = new Pool(group, options)
    const gateways = await group.makeGateways(specs)
    try {
      await Promise.all(gateways.map(async (gw, i) => { await pool.adopt(gw, specs[i] as string) }))
    } catch (err) {
      // closed first: the workers terminate() ends must not be replaced
      pool.closed = true
      await group.terminate(5)
      throw err
    }
    return pool
  }

  /** The workers' gateways now (replacements included). */
  get gateways (): Gateway[] {
    return this.workers.map((w) => w.gateway)
  }

  /** How many workers the pool has now. */
  get size (): number {
    return this.workers.length
  }

  /**
   * A Python function to run on the workers: source (its one top-level
   * def, or options.name) or 'module:name'. Defined on each worker with its
   * first call there. See PoolFunction.
   */
  function<R = unknown> (source: string, options: FunctionOptions = {}): PoolFunction<R> {
    if (this.closed) throw new GatewayClosedError('the pool is closed')
    return poolFunction<R>(this.scheduler, functionTarget(source, options), this.retries)
  }

  /** Stop: runs still going fail with GatewayClosedError, the workers exit (killed after `timeout` seconds). */
  async close (timeout = 10): Promise<void> {
    if (this.closed) return
    this.closed = true
    const error = new GatewayClosedError('the pool is closed')
    for (const run of [...this.runs]) this.failRun(run, error)
    this.runs.length = 0
    for (const w of this.workers) {
      w.caller.close(error)
      w.lines.close(error)
    }
    await this.group.terminate(timeout)
  }

  // ---- what runs call, through this.scheduler ----

  private wake (run: Run): void {
    if (this.closed) {
      this.failRun(run, new GatewayClosedError('the pool is closed'))
      return
    }
    if (this.workers.length === 0 && this.starting === 0) {
      // nothing will ever take it: every worker was lost and none restarted
      this.failRun(run, new GatewayClosedError('every worker of the pool was lost and none could be started again'))
      return
    }
    if (!this.runs.includes(run)) this.runs.push(run)
    this.schedulePump()
  }

  private remove (run: Run): void {
    const i = this.runs.indexOf(run)
    if (i >= 0) this.runs.splice(i, 1)
  }

  // ---- workers ----

  private async adopt (gateway: Gateway, spec: string): Promise<PoolWorker<PoolItem>> {
    const worker = new PoolWorker<PoolItem>(gateway, spec, this.options.inFlight ?? 2)
    if (this.options.initializer !== undefined) await worker.caller.setup(this.options.initializer)
    if (this.closed) {
      // a replacement that came up after close(): not the pool's any more
      await gateway.terminate(1)
      throw new GatewayClosedError('the pool is closed')
    }
    this.workers.push(worker)
    const onPhase = (): void => {
      if (gateway.phase === 'open') return
      gateway.off('phase', onPhase)
      this.lost(worker)
    }
    gateway.on('phase', onPhase)
    onPhase()
    this.schedulePump()
    return worker
  }

  /** A worker's gateway left 'open': no more work for it; its batches come back as failures (and are sent again); a new one takes its place. */
  private lost (worker: PoolWorker<PoolItem>): void {
    const i = this.workers.indexOf(worker)
    if (i < 0) return
    this.workers.splice(i, 1)
    if (worker.state === 'working') worker.state = 'leaving'
    // closing: close() is ending every worker gracefully (group.terminate
    // kills only those that do not exit in time); killing them here made a
    // normal close a SIGKILL, and a SLURM job a cancelled one
    if (this.closed) return
    // a pipe that broke waits for the verdict: the worker is of no more use
    if (!worker.gateway.gone) worker.gateway.kill()
    this.starting++
    void this.group.makeGateway(worker.spec).then(
      async (gateway) => {
        try {
          await this.adopt(gateway, worker.spec)
          this.emit('replaced', worker.gateway, gateway)
        } catch (err) {
          await gateway.terminate(1)
          throw err
        }
      }).catch((err: unknown) => {
      if (this.closed) return // closed meanwhile: what came up was ended, not lost
      this.emit('workerError', err instanceof Error ? err : new Error(String(err)), worker.spec)
    }).finally(() => {
      this.starting--
      if (this.closed) return
      if (this.workers.length === 0 && this.starting === 0) {
        const error = new GatewayClosedError('every worker of the pool was lost and none could be started again')
        for (const run of [...this.runs]) this.failRun(run, error)
      }
      this.schedulePump()
    })
  }

  // ---- scheduling ----

  private schedulePump (): void {
    if (this.pumpQueued) return
    this.pumpQueued = true
    // calls of one tick gather into one batch
    queueMicrotask(() => { this.pumpQueued = false; this.pump() })
  }

  private pump (): void {
    if (this.pumping || this.closed) return
    this.pumping = true
    try {
      let progress = true
      while (progress) {
        progress = false
        for (const worker of [...this.workers]) {
          if (!worker.caller.usable && worker.state === 'working') {
            // its call server ended while the gateway lives on: replace it
            this.lost(worker)
            progress = true
            continue
          }
          const run = this.nextRun(worker)
          if (run === null) continue
          const exclusive = run.nextExclusive
          if (worker.capacity(exclusive) === 0) continue
          const items = run.take(batchItems(worker.secondsPerItem(run.target)), BATCH_BYTES)
          if (items.length === 0) continue
          this.dispatch(run, worker, items, exclusive)
          progress = true
        }
      }
    } finally {
      this.pumping = false
    }
  }

  /** The next run with work this worker can take now, in turns (the chosen one goes to the back). */
  private nextRun (worker: PoolWorker<PoolItem>): Run | null {
    for (let i = 0; i < this.runs.length; i++) {
      const run = this.runs[i] as Run
      if (!run.hasWork) continue
      if (worker.capacity(run.nextExclusive) === 0) continue
      this.runs.splice(i, 1)
      this.runs.push(run)
      return run
    }
    return null
  }

  private dispatch (run: Run, worker: PoolWorker<PoolItem>, items: PoolItem[], exclusive: boolean): void {
    let calls = 0
    let length = 0
    for (const item of items) {
      calls += item.count
      length += item.wire.length
    }
    const batch: InFlight<PoolItem> = { items, exclusive, calls }
    // made at its size: pushed to, a tiny map's payloads (29k values a
    // batch) were the master's largest self time, and their growth its GC
    const payload = new Array<unknown>(length)
    let at = 0
    const cleanups: Array<() => void> = []
    for (const item of items) {
      item.sent = true
      const wire = item.wire
      for (let j = 0; j < wire.length; j++) payload[at++] = wire[j]
      // most inputs have neither: no closure per input for them
      if (item.timeout === null && item.signal === null) continue
      const giveUp = (error: Error): void => {
        if (item.settled) return
        run.settle(item, undefined, error)
        // it may be stuck in the function: only a new worker is sure to be free
        if (worker.state !== 'killed') {
          worker.state = 'killed'
          worker.gateway.kill()
        }
      }
      if (item.timeout !== null) {
        const timer = setTimeout(() => { giveUp(new TimeoutError(`${run.target.name}() did not return within ${String(item.timeout)} seconds`)) }, item.timeout * 1000)
        cleanups.push(() => { clearTimeout(timer) })
      }
      const signal = item.signal
      if (signal !== null) {
        const onAbort = (): void => { giveUp(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason))) }
        signal.addEventListener('abort', onAbort, { once: true })
        cleanups.push(() => { signal.removeEventListener('abort', onAbort) })
      }
    }
    worker.run(run.target, batch, payload, run.single).then(
      (result) => {
        const errors = result.errors
        run.settleBatch(items, result.values, errors === null ? null : (i) => errors.get(i) ?? null)
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err))
        if (error instanceof DumpError) {
          this.undumpable(run, worker, items, error)
          return
        }
        if (worker.state === 'killed') {
          // killed for another input's timeout or abort: these are not at fault
          for (const item of items) run.resend(item)
          return
        }
        // lost with its worker: sent again, up to the retry limit
        for (const item of items) run.lost(item, error, calls, exclusive && calls === 1)
      }
    ).finally(() => {
      for (const c of cleanups) c()
      this.schedulePump()
    })
  }

  /**
   * A batch that could not be dumped: the inputs at fault fail, the others
   * go again. Each input is tried as deep as it travels (inside the
   * message's tuple and list), since one that dumps alone may be too deep
   * in the batch. When none is found at fault, the whole batch fails: sent
   * again unchanged, it would fail again, forever.
   */
  private undumpable (run: Run, worker: PoolWorker<PoolItem>, items: PoolItem[], error: Error): void {
    const faults = new Map<PoolItem, Error>()
    if (items.length === 1 && items[0]?.count === 1) faults.set(items[0], error)
    else {
      for (const item of items) {
        try {
          worker.gateway.encode(tuple(0, item.wire))
        } catch (err) {
          faults.set(item, err as Error)
        }
      }
    }
    for (const item of items) {
      const fault = faults.size === 0 ? error : faults.get(item)
      if (fault === undefined) run.resend(item)
      else run.settle(item, undefined, fault)
    }
  }

  private failRun (run: Run, error: Error): void {
    run.fail(error)
  }
}
