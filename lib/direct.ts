/**
 * One Python function on a channel of its own (serve_direct in
 * lib/python/callserver.py). A call of one positional argument is one
 * message, the argument itself, and its reply is the value returned, bare:
 * a call one after another costs what a channel ping-pong does, where the
 * call server's ('1', fid, bid, x) -> (bid, value) costs six more opcodes to
 * encode and decode on each side. Nothing names a call: the replies come in
 * the order of the calls, which wait here first in, first out.
 *
 * An exception (or a value that cannot be sent) ends the execution, which
 * closes the channel with its traceback: the first call waiting gets that
 * RemoteError, and the calls sent after it, which the worker never read, are
 * given back as ORPHANED for the caller to send again on a fresh line.
 */
import type { Gateway } from './gateway.js'
import type { Channel } from './channel.js'
import { pythonSource } from './bootstrap.js'
import { ChannelClosedError, DumpError, RemoteError } from './errors.js'
import type { FunctionTarget } from './function-target.js'
import type { Caller } from './caller.js'

/** What the calls behind a failed one are rejected with: never run, to be sent again. */
export const ORPHANED = new Error('sent after a call that failed: never run')

const END = Symbol('direct line ended')

interface Waiter {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/** @internal The master's side of one serve_direct channel. */
export class DirectLine {
  private readonly channel: Channel
  private readonly waiting: Waiter[] = []
  /** Why no more calls can go on this line. */
  private ended: Error | null = null

  /** `shared`: the call server whose initializer's names a source's function starts from (a pool worker's). */
  constructor (readonly gateway: Gateway, target: FunctionTarget, shared: Caller | null = null) {
    const kwargs = target.kind === 'source'
      ? { kind: 'source', what: target.source, name: target.name, filename: target.filename, shared: shared?.id ?? null }
      : { kind: 'import', what: target.target }
    this.channel = gateway.remoteExec(pythonSource('callserver.py'), kwargs, { call: 'serve_direct', filename: 'execnet-callserver.py' })
    // idle, it must not keep Node alive: only calls waiting do
    this.channel.setKeepAlive(false)
    this.channel.setCallback((item) => { this.onReply(item) }, { endMarker: END })
  }

  /** Whether calls can still be sent on it. */
  get usable (): boolean {
    return this.ended === null
  }

  /** Call the function with `arg`: its value, a RemoteError, ORPHANED, the gateway's error, or (nothing sent) a DumpError. */
  async submit (arg: unknown): Promise<unknown> {
    if (this.ended !== null) throw this.ended
    let waiter: Waiter | undefined
    const reply = new Promise<unknown>((resolve, reject) => { waiter = { resolve, reject } })
    this.waiting.push(waiter as Waiter)
    this.keepAlive()
    try {
      await this.channel.send(arg)
    } catch (err) {
      // nothing of it went out (a DumpError), or the channel is gone
      const at = this.waiting.indexOf(waiter as Waiter)
      if (at >= 0) this.waiting.splice(at, 1)
      this.keepAlive()
      throw err
    }
    return await reply
  }

  /** Stop the line (the worker's thread ends after the call it runs); what it still owes fails with `reason`. */
  close (reason: Error = new ChannelClosedError('the direct call line was closed')): void {
    if (this.ended !== null) return
    this.ended = reason
    this.channel.close()
    this.failWaiting(reason, reason)
  }

  private onReply (item: unknown): void {
    if (item !== END) {
      const waiter = this.waiting.shift()
      this.keepAlive()
      waiter?.resolve(item)
      return
    }
    void this.channel.waitClose().then(
      () => { this.lineEnded(null) },
      (err: unknown) => { this.lineEnded(err instanceof Error ? err : new Error(String(err))) })
  }

  private lineEnded (error: Error | null): void {
    if (this.ended !== null) return
    if (error instanceof RemoteError) {
      // the function raised: the first call waiting is the one; the rest never ran
      this.ended = ORPHANED
      this.failWaiting(error, ORPHANED)
      return
    }
    const reason = error ?? this.gateway.failure ?? new ChannelClosedError(`the direct call line on gateway ${this.gateway.id} ended`)
    this.ended = reason
    this.failWaiting(reason, reason)
  }

  private failWaiting (first: Error, rest: Error): void {
    const waiters = this.waiting.splice(0)
    this.keepAlive()
    waiters.forEach((w, i) => { w.reject(i === 0 ? first : rest) })
  }

  private keepAlive (): void {
    this.channel.setKeepAlive(this.waiting.length > 0)
  }
}

/**
 * @internal Each function's direct line on one gateway, made at first use
 * and again once the last one ended; gw.function's calls and a pool
 * worker's each keep one.
 */
export class DirectLines {
  private readonly lines = new Map<string, DirectLine>()
  /**
   * Whether calls may take direct lines: each is an execution of its own in
   * the worker, and under main_thread_only one waits for the call server's
   * to end, which it never does.
   */
  readonly allowed: boolean

  /** `shared`: the call server whose initializer's names the functions start from. */
  constructor (private readonly gateway: Gateway, private readonly shared: Caller | null = null) {
    this.allowed = gateway.spec.execmodel !== 'main_thread_only'
  }

  /** The function's line, a fresh one when it has none that is usable. */
  for (target: FunctionTarget): DirectLine {
    let line = this.lines.get(target.key)
    if (line === undefined || !line.usable) {
      line = new DirectLine(this.gateway, target, this.shared)
      this.lines.set(target.key, line)
    }
    return line
  }

  /** Close a line given up on (a timeout, an abort); the next call of its function gets a fresh one. */
  retire (target: FunctionTarget, line: DirectLine): void {
    if (this.lines.get(target.key) === line) this.lines.delete(target.key)
    line.close()
  }

  /** Close every line; what they still owe fails with `reason`. */
  close (reason: Error): void {
    for (const line of this.lines.values()) line.close(reason)
    this.lines.clear()
  }
}

/**
 * A DumpError of a line's message (whose path starts at `value`, the one
 * argument) with its path as the caller names that argument (`args[0]`,
 * or a batch's `value[3][0]`); any other error as it is.
 */
export function argumentPath (err: unknown, argument: string): unknown {
  return err instanceof DumpError && err.path.startsWith('value') ? new DumpError(err.reason, argument + err.path.slice(5)) : err
}
