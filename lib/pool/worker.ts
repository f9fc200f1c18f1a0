/**
 * One pool worker: a gateway, its call server, the batches in flight on it,
 * and how long an item takes there (for batch sizing, lib/pool/batch.ts).
 */
import type { Gateway } from '../gateway.js'
import { Caller, type BatchResult } from '../caller.js'
import { argumentPath, DirectLines, ORPHANED } from '../direct.js'
import { RemoteError } from '../errors.js'
import type { FunctionTarget } from '../function-target.js'

/** A batch on its way: what a run needs back to settle or re-run its items. */
export interface InFlight<I> {
  readonly items: readonly I[]
  /** The calls the items hold (an item may hold several). */
  readonly calls: number
  /** Whether the batch must be alone on the worker (its items carry a timeout, so its time must be theirs). */
  readonly exclusive: boolean
}

export class PoolWorker<I> {
  readonly caller: Caller
  readonly inFlight = new Set<InFlight<I>>()
  /** Seconds an item of each function (by target key) took here lately. */
  private readonly speeds = new Map<string, number>()
  /**
   * 'working'; 'leaving' (its gateway left 'open', or its call server
   * ended: it is being replaced); 'killed' (the pool killed it because an
   * input it held timed out or was aborted: its other inputs are not at
   * fault, and go again uncounted).
   */
  state: 'working' | 'leaving' | 'killed' = 'working'
  /** When the worker last finished a batch: the next one's own time starts here or at its send, whichever is later. */
  private lastReply = 0

  /** Each function's direct line here (lib/direct.ts), for a batch of one call of one argument. */
  readonly lines: DirectLines

  constructor (readonly gateway: Gateway, readonly spec: string, private readonly maxInFlight: number) {
    this.caller = Caller.start(gateway)
    this.lines = new DirectLines(gateway, this.caller)
  }

  /** Seconds an item of this function took here lately, or null before its first batch came back. */
  secondsPerItem (target: FunctionTarget): number | null {
    return this.speeds.get(target.key) ?? null
  }

  /** How many more batches it takes now; a batch that must be alone needs it idle. */
  capacity (exclusive: boolean): number {
    if (this.state !== 'working' || !this.caller.usable || this.gateway.phase !== 'open') return 0
    if (exclusive || this.holdsExclusive()) return this.inFlight.size === 0 ? 1 : 0
    return this.maxInFlight - this.inFlight.size
  }

  /** Whether a batch in flight must be alone (asked by the pump for every worker, each turn: no copy of the set). */
  private holdsExclusive (): boolean {
    for (const b of this.inFlight) if (b.exclusive) return true
    return false
  }

  /** Send a batch; the promise settles when it comes back or the worker is lost. */
  async run (target: FunctionTarget, batch: InFlight<I>, payload: unknown[], single: boolean): Promise<BatchResult> {
    this.inFlight.add(batch)
    const sent = performance.now()
    try {
      const result = this.lines.allowed && oneArgument(payload, single)
        ? await this.callDirect(target, single ? payload[0] : (payload[0] as unknown[])[0], single ? 'value[3][0]' : 'value[3][0][0]')
        : await this.caller.submit(this.caller.fid(target), payload, single)
      const now = performance.now()
      // with batches queued on the worker, this one's own time began when the one ahead of it ended
      const seconds = (now - Math.max(sent, this.lastReply)) / 1000 / Math.max(1, batch.calls)
      this.lastReply = now
      const before = this.speeds.get(target.key)
      this.speeds.set(target.key, before === undefined ? seconds : (before + seconds) / 2)
      return result
    } finally {
      this.inFlight.delete(batch)
    }
  }

  /**
   * One call on the function's direct line, as a batch's result: `await
   * f(x)` on a pool costs what it does on a gateway. A call sent behind one
   * that raised was never run: it goes again on a fresh line.
   */
  private async callDirect (target: FunctionTarget, arg: unknown, pathInBatch: string): Promise<BatchResult> {
    for (;;) {
      try {
        return { values: [await this.lines.for(target).submit(arg)], errors: null }
      } catch (err) {
        if (err === ORPHANED) continue
        if (err instanceof RemoteError) return { values: [null], errors: new Map([[0, err]]) }
        // the batch form's path, as the pool reads a DumpError of one call
        throw argumentPath(err, pathInBatch)
      }
    }
  }
}

/**
 * Whether a batch is one call of one positional argument: a map's batch of
 * one input ([x], single), or one f(x) ([[x], null]: args and no kwargs).
 */
function oneArgument (payload: readonly unknown[], single: boolean): boolean {
  if (single) return payload.length === 1
  const args = payload[0]
  return payload.length === 2 && payload[1] === null && Array.isArray(args) && args.length === 1
}
