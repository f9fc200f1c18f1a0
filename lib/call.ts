/**
 * Calls on one gateway: gw.call() and gw.function(). Calls made in the same
 * tick to the same function travel as one batch to the call server; a call
 * alone in its tick, of one positional argument, goes on the function's own
 * direct line instead (lib/direct.ts), as fast as a channel ping-pong. A
 * call that times out or is aborted retires the server or line it was sent
 * to (its thread may be stuck in the function): later calls go to a fresh
 * one, and the calls the old one still owed are sent again (at-least-once
 * for those).
 */
import type { Gateway } from './gateway.js'
import { Caller, type BatchResult } from './caller.js'
import { argumentPath, DirectLines, ORPHANED, type DirectLine } from './direct.js'
import { functionTarget, type FunctionOptions, type FunctionTarget } from './function-target.js'
import { DumpError, OptionError, TimeoutError } from './errors.js'

/**
 * Per-call options of RemoteFunction.invoke() and Pool functions.
 * @category Calls and pools
 */
export interface CallOptions {
  /** Seconds the call may take; then it rejects with TimeoutError (the worker goes on serving other calls). */
  timeout?: number
  /** Aborting rejects the call with the signal's reason (an AbortError unless you gave another). */
  signal?: AbortSignal
}

/**
 * A Python function in a worker, called like a JavaScript async function:
 * `await f(1, 2)` runs `f(1, 2)` there and gives what it returned (None is
 * null; a generator is drained into an array). A Python exception rejects
 * with a RemoteError carrying the traceback.
 * @category Calls and pools
 */
export interface RemoteFunction<R = unknown> {
  (...args: unknown[]): Promise<R>
  /**
   * Call with keyword arguments and per-call options: `f.invoke([1], {scale: 2}, {timeout: 5})`
   * is `f(1, scale=2)`. (Named invoke, not call: a function's own call and
   * apply are Function.prototype's, which libraries rely on.)
   */
  invoke: (args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>> | null, options?: CallOptions) => Promise<R>
  /** The Python function's name. */
  readonly name: string
}

/** Where a call was sent: the call server, or its function's direct line. */
type Server = Caller | DirectLine

interface Call {
  readonly args: readonly unknown[]
  readonly kwargs: Readonly<Record<string, unknown>> | null
  readonly target: FunctionTarget
  settled: boolean
  /** The server the call was last sent to: a reply from an older one is ignored. */
  server: Server | null
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  /** Its timeout, if it has one. */
  timer: NodeJS.Timeout | undefined
  /** Its AbortSignal and the listener on it, if it has one. */
  signal: AbortSignal | undefined
  onAbort: (() => void) | null
}

/** A gateway's calls: its current call server and the batch being gathered this tick. */
class CallSession {
  private caller: Caller | null = null
  private gathering = new Map<Caller, Map<number, Call[]>>()
  private readonly owed = new Map<Server, Set<Call>>()
  private readonly lines: DirectLines

  constructor (private readonly gateway: Gateway) {
    this.lines = new DirectLines(gateway)
  }

  call (target: FunctionTarget, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>> | null, options: CallOptions): Promise<unknown> {
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(signal.reason)
    const seconds = callTimeout(options.timeout)
    const ms = seconds === null ? null : seconds * 1000
    return new Promise((resolve, reject) => {
      // no closures for what a call without options does not use: a call
      // one after another is a ping-pong's cost, and each closure the
      // bundle names (esbuild's keepNames) is an Object.defineProperty
      const call: Call = { args, kwargs, target, settled: false, server: null, resolve, reject, timer: undefined, signal, onAbort: null }
      if (ms !== null) call.timer = setTimeout(() => { this.giveUp(call, new TimeoutError(`${target.name}() did not return within ${String(options.timeout)} seconds`)) }, ms)
      if (signal !== undefined) {
        call.onAbort = () => { this.giveUp(call, signal.reason) }
        signal.addEventListener('abort', call.onAbort, { once: true })
      }
      try {
        this.send(call)
      } catch (err) {
        this.settle(call, null, err)
      }
    })
  }

  private current (): Caller {
    if (this.caller === null || !this.caller.usable) this.caller = Caller.start(this.gateway)
    return this.caller
  }

  private send (call: Call): void {
    const caller = this.current()
    const fid = caller.fid(call.target)
    call.server = caller
    this.owe(caller, call)
    let byFid = this.gathering.get(caller)
    if (byFid === undefined) {
      byFid = new Map()
      this.gathering.set(caller, byFid)
      // everything called in this tick goes in one message per function
      queueMicrotask(() => { this.flush(caller) })
    }
    const batch = byFid.get(fid)
    if (batch === undefined) byFid.set(fid, [call])
    else batch.push(call)
  }

  private flush (caller: Caller): void {
    const byFid = this.gathering.get(caller)
    this.gathering.delete(caller)
    if (byFid === undefined) return
    for (const [fid, calls] of byFid) {
      const live = calls.filter((c) => !c.settled && c.server === caller)
      if (live.length > 0) this.submit(caller, fid, live)
    }
  }

  private owe (server: Server, call: Call): void {
    let owed = this.owed.get(server)
    if (owed === undefined) { owed = new Set(); this.owed.set(server, owed) }
    owed.add(call)
  }

  private submit (caller: Caller, fid: number, calls: Call[]): void {
    const only = calls[0] as Call
    if (calls.length === 1 && this.lines.allowed && only.args.length === 1 && (only.kwargs === null || Object.keys(only.kwargs).length === 0)) {
      this.owed.get(caller)?.delete(only)
      this.submitDirect(only)
      return
    }
    const items: unknown[] = []
    for (const c of calls) items.push(c.args, c.kwargs !== null && Object.keys(c.kwargs).length > 0 ? new Map(Object.entries(c.kwargs)) : null)
    caller.submit(fid, items, false).then(
      (result) => { this.answered(caller, calls, result) },
      (err: unknown) => { this.failed(caller, fid, calls, err) })
  }

  /** A call alone in its tick, of one argument: on its function's direct line. */
  private submitDirect (call: Call): void {
    const sentTo = this.lines.for(call.target)
    call.server = sentTo
    this.owe(sentTo, call)
    sentTo.submit(call.args[0]).then(
      (value) => { if (call.server === sentTo) this.settle(call, value, null) },
      (err: unknown) => {
        if (call.server !== sentTo || call.settled) return
        if (err === ORPHANED) {
          // behind a call that raised, never run: again, on a fresh line
          this.owed.get(sentTo)?.delete(call)
          this.resend(call)
          return
        }
        this.settle(call, null, argumentPath(err, 'args[0]'))
      })
  }

  private resend (call: Call): void {
    try { this.send(call) } catch (err) { this.settle(call, null, err) }
  }

  private answered (caller: Caller, calls: Call[], result: BatchResult): void {
    calls.forEach((call, i) => {
      if (call.server !== caller) return
      const error = result.errors?.get(i)
      this.settle(call, error === undefined ? result.values[i] ?? null : null, error)
    })
  }

  private failed (caller: Caller, fid: number, calls: Call[], err: unknown): void {
    const live = calls.filter((c) => !c.settled && c.server === caller)
    if (err instanceof DumpError && live.length > 1) {
      // a value that cannot be dumped fails only the call that holds it
      for (const call of live) this.submit(caller, fid, [call])
      return
    }
    for (const call of live) this.settle(call, null, live.length === 1 ? argumentError(err) : err)
  }

  private settle (call: Call, value: unknown, error: unknown): void {
    if (call.settled) return
    call.settled = true
    if (call.timer !== undefined) clearTimeout(call.timer)
    if (call.onAbort !== null) call.signal?.removeEventListener('abort', call.onAbort)
    if (call.server !== null) this.owed.get(call.server)?.delete(call)
    if (error !== undefined && error !== null) call.reject(error)
    else call.resolve(value)
  }

  /** A timeout or an abort: this call fails now, and its server is retired; what it still owed goes to a fresh one. */
  private giveUp (call: Call, reason: unknown): void {
    if (call.settled) return
    const server = call.server
    this.settle(call, null, reason)
    if (server === null) return
    if (this.caller === server) this.caller = null
    const owed = [...(this.owed.get(server) ?? [])]
    this.owed.delete(server)
    if (server instanceof Caller) {
      this.gathering.delete(server)
      server.close()
    } else {
      this.lines.retire(call.target, server)
    }
    for (const other of owed) {
      if (!other.settled) this.resend(other)
    }
  }
}

const sessions = new WeakMap<Gateway, CallSession>()

function sessionOf (gateway: Gateway): CallSession {
  let session = sessions.get(gateway)
  if (session === undefined) {
    session = new CallSession(gateway)
    sessions.set(gateway, session)
  }
  return session
}

/** @internal gw.function(): a RemoteFunction bound to the gateway. */
export function remoteFunction<R = unknown> (gateway: Gateway, what: string, options: FunctionOptions = {}): RemoteFunction<R> {
  const target = functionTarget(what, options)
  const session = sessionOf(gateway)
  const invoke = async (args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>> | null, callOptions: CallOptions = {}): Promise<R> => {
    if (!Array.isArray(args)) throw new OptionError('invoke() takes the positional arguments as an array')
    return await session.call(target, args, kwargs ?? null, callOptions) as R
  }
  const f = async (...args: unknown[]): Promise<R> => await invoke(args)
  Object.defineProperty(f, 'name', { value: target.name })
  return Object.assign(f, { invoke }) as RemoteFunction<R>
}

/** The most a timer can wait (setTimeout's limit), in seconds. */
const MAX_TIMEOUT_SECONDS = 2147483

/**
 * @internal A call's timeout, checked once for gw.function and pool
 * functions alike: seconds > 0 (a call cannot answer in no time, and
 * setTimeout would fire at once for Infinity or a value past its limit).
 */
export function callTimeout (timeout: number | undefined): number | null {
  if (timeout === undefined) return null
  if (typeof timeout !== 'number' || !(timeout > 0) || timeout > MAX_TIMEOUT_SECONDS) {
    throw new OptionError(`timeout must be a number of seconds > 0 and at most ${MAX_TIMEOUT_SECONDS}, not ${String(timeout)}`)
  }
  return timeout
}

/** A DumpError's path inside the batch message, as the caller wrote it: value[3][0][1] is args[1], value[3][1].get('k') kwargs.get('k'). */
function argumentError (err: unknown): unknown {
  if (!(err instanceof DumpError)) return err
  const match = /^value\[3\]\[([01])\](.*)$/.exec(err.path)
  if (match === null) return err
  return new DumpError(err.reason, (match[1] === '0' ? 'args' : 'kwargs') + (match[2] ?? ''))
}
