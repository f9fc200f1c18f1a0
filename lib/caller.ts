/**
 * One call server (lib/python/callserver.py) on a gateway: the master's
 * side of its protocol. Functions are defined on it once (by id), batches
 * of calls go out as one message each and come back as one reply. It knows
 * nothing of timeouts, retries or scheduling: gateway calls
 * (lib/call.ts) and pools (lib/pool/) build those on it.
 */
import { endianness } from 'node:os'
import type { Gateway } from './gateway.js'
import type { Channel } from './channel.js'
import { pythonSource } from './bootstrap.js'
import { ChannelClosedError, DataFormatError, DumpError, GatewayClosedError, RemoteError } from './errors.js'
import { Tuple, tuple } from './serializer/types.js'
import type { FunctionTarget } from './function-target.js'

/** What one batch gave: a value per call, and the errors of those that raised, by position. */
export interface BatchResult {
  values: unknown[]
  errors: Map<number, RemoteError> | null
}

interface Pending {
  resolve: (result: BatchResult) => void
  reject: (error: Error) => void
}

const END = Symbol('call server ended')

/** The master's side of one call server; made by Caller.start(). */
export class Caller {
  readonly gateway: Gateway
  private readonly channel: Channel
  private readonly fids = new Map<string, number>()
  private readonly pending = new Map<number, Pending>()
  private nextFid = 1
  private nextBid = 1
  /** Why no more calls can be made, once the server ended or was closed. */
  private ended: Error | null = null

  private constructor (gateway: Gateway) {
    this.gateway = gateway
    this.channel = gateway.remoteExec(pythonSource('callserver.py'), undefined, { call: 'serve', filename: 'execnet-callserver.py' })
    // an idle call server must not keep Node alive: only calls waiting do
    this.channel.setKeepAlive(false)
    this.channel.setCallback((item) => { this.onReply(item) }, { endMarker: END })
  }

  /** Start a call server on the gateway (one remoteExec; its thread serves until closed). */
  static start (gateway: Gateway): Caller {
    return new Caller(gateway)
  }

  /** Its channel's id, which names its shared namespace in the worker (for direct lines). */
  get id (): number {
    return this.channel.id
  }

  /** Batches sent and not answered yet. */
  get inFlight (): number {
    return this.pending.size
  }

  /** Whether calls can still be made. */
  get usable (): boolean {
    return this.ended === null
  }

  /** The function's id on this server; defines it there on first use (messages keep their order, so no answer is awaited). */
  fid (target: FunctionTarget): number {
    let fid = this.fids.get(target.key)
    if (fid === undefined) {
      fid = this.nextFid++
      this.fids.set(target.key, fid)
      const message = target.kind === 'source'
        ? tuple('d', fid, target.source, target.name, target.filename)
        : tuple('i', fid, target.target)
      this.post(message)
    }
    return fid
  }

  /**
   * Run the calls of one batch. `single`: items are the one positional
   * argument of each call; otherwise they are [args, kwargs | null] pairs,
   * flat. Rejects when the batch cannot be sent (DumpError) or the server
   * ends before it answers (the gateway's error).
   */
  async submit (fid: number, items: unknown[], single: boolean): Promise<BatchResult> {
    const bid = this.nextBid++
    // one call of positional arguments: its arguments flat in the message
    if (single && items.length === 1) return await this.requestOne(bid, fid, items, true)
    if (!single && items.length === 2 && items[1] === null && Array.isArray(items[0])) return await this.requestOne(bid, fid, items[0] as unknown[], false)
    const packed = single ? packNumbers(items) : null
    if (packed !== null) return await this.request(bid, tuple('M', fid, bid, packed[0], packed[1]))
    return await this.request(bid, tuple(single ? 'm' : 'c', fid, bid, items))
  }

  /** Run source in the namespace every function defined later starts from (a pool's initializer). */
  async setup (source: string): Promise<void> {
    const bid = this.nextBid++
    const result = await this.request(bid, tuple('s', bid, source))
    const error = result.errors?.get(0)
    if (error !== undefined) throw error
  }

  /** Stop the server (it stops between two calls) and fail what it still owes with `reason`. */
  close (reason: Error = new ChannelClosedError('the call server was closed')): void {
    if (this.ended !== null) return
    this.ended = reason
    this.channel.close()
    this.failPending(reason)
  }

  private async request (bid: number, message: Tuple): Promise<BatchResult> {
    if (this.ended !== null) throw this.ended
    const result = new Promise<BatchResult>((resolve, reject) => { this.pending.set(bid, { resolve, reject }) })
    this.keepAlive()
    try {
      await this.channel.send(message)
    } catch (err) {
      // a DumpError: nothing of the message went out
      this.pending.delete(bid)
      this.keepAlive()
      throw err
    }
    return await result
  }

  /** A '1' message; a DumpError's path as in the batch form callers read (('m', fid, bid, [x]) or ('c', fid, bid, [args, None])). */
  private async requestOne (bid: number, fid: number, args: unknown[], single: boolean): Promise<BatchResult> {
    try {
      return await this.request(bid, tuple('1', fid, bid, ...args))
    } catch (err) {
      const at = err instanceof DumpError ? /^value\[(\d+)\](.*)$/.exec(err.path) : null
      if (at === null || Number(at[1]) < 3) throw err
      const rest = at[2] as string
      throw new DumpError((err as DumpError).reason, single ? `value[3][0]${rest}` : `value[3][0][${Number(at[1]) - 3}]${rest}`)
    }
  }

  private post (message: Tuple): void {
    this.channel.send(message).catch((err: unknown) => {
      // a definition that cannot go out fails every call of it the same way
      this.close(err instanceof Error ? err : new Error(String(err)))
    })
  }

  private onReply (item: unknown): void {
    if (item === END) {
      void this.channel.waitClose().then(
        () => { this.serverEnded(null) },
        (err: unknown) => { this.serverEnded(err instanceof Error ? err : new Error(String(err))) })
      return
    }
    if (!(item instanceof Tuple) || item.length < 2 || item.length > 4) throw new DataFormatError('call server reply is not a (batch, value) or (batch, values, errors[, packing]) tuple', 0)
    const [bid, sent, errors, code] = item as unknown as [number, unknown, unknown, unknown]
    const values = item.length === 2 ? [sent] : code === undefined ? sent as unknown[] | null : unpackNumbers(text(code), sent)
    const waiter = this.pending.get(bid)
    if (waiter === undefined) return // given up (closed) meanwhile
    this.pending.delete(bid)
    this.keepAlive()
    waiter.resolve({ values: values ?? [], errors: errorsOf(errors) })
  }

  private serverEnded (error: Error | null): void {
    const gateway = this.gateway
    const reason = error ?? gateway.failure ?? new GatewayClosedError(`the call server on gateway ${gateway.id} ended`)
    if (this.ended === null) this.ended = reason
    this.failPending(reason)
  }

  private failPending (reason: Error): void {
    const waiters = [...this.pending.values()]
    this.pending.clear()
    this.keepAlive()
    for (const w of waiters) w.reject(reason)
  }

  private keepAlive (): void {
    this.channel.setKeepAlive(this.pending.size > 0)
  }
}

/** A str from the worker: a Python 2 str may come as bytes. */
function text (v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
}

/** The wire packs numbers little-endian: typed arrays are that order only here. */
const LITTLE_ENDIAN = endianness() === 'LE'

/** Fewer values are not worth the check (the call server's PACK_MIN too). */
const PACK_MIN = 16

/**
 * One argument per call, all plain numbers of one kind as they would
 * travel (ints in int32 range, or all floats): packed for array.array, so
 * the worker reads them at C speed instead of one value at a time. The
 * kind is the serializer's own rule (a safe integer but -0 is an int), so
 * Python sees exactly the values it would have; anything else is null and
 * goes as a list.
 */
function packNumbers (items: readonly unknown[]): ['i' | 'd', Buffer] | null {
  const n = items.length
  if (n < PACK_MIN || typeof items[0] !== 'number') return null
  let ints = true
  let floats = true
  for (let i = 0; i < n; i++) {
    const x = items[i]
    if (typeof x !== 'number') return null
    if ((x | 0) === x && !Object.is(x, -0)) floats = false
    else if (Number.isSafeInteger(x) && !Object.is(x, -0)) return null // an int beyond int32
    else ints = false
    if (!ints && !floats) return null
  }
  // through a typed array on little-endian hosts (the wire's order): one
  // store per value, where Buffer's writeInt32LE is a checked call each
  if (LITTLE_ENDIAN) {
    const lanes = ints ? new Int32Array(n) : new Float64Array(n)
    for (let i = 0; i < n; i++) lanes[i] = items[i] as number
    return [ints ? 'i' : 'd', Buffer.from(lanes.buffer, 0, lanes.byteLength)]
  }
  const buf = Buffer.allocUnsafe(n * (ints ? 4 : 8))
  if (ints) for (let i = 0; i < n; i++) buf.writeInt32LE(items[i] as number, 4 * i)
  else for (let i = 0; i < n; i++) buf.writeDoubleLE(items[i] as number, 8 * i)
  return [ints ? 'i' : 'd', buf]
}

/** A packed reply's values (see callserver.py). */
function unpackNumbers (code: string, data: unknown): number[] {
  const buf = Buffer.isBuffer(data) ? data : typeof data === 'string' ? Buffer.from(data, 'latin1') : null
  const width = code === 'i' ? 4 : code === 'd' ? 8 : 0
  if (buf === null || width === 0 || buf.length % width !== 0) throw new DataFormatError(`call server reply packs its values as ${JSON.stringify(code)}, which is not 'i' or 'd' bytes`, 0)
  const n = buf.length / width
  const values = new Array<number>(n)
  if (LITTLE_ENDIAN) {
    // a typed array needs its offset aligned: the bytes are copied to one
    // that is when they are not (a memcpy, cheaper than a read per value)
    let aligned: Uint8Array = buf
    if (buf.byteOffset % width !== 0) {
      aligned = new Uint8Array(buf.length)
      aligned.set(buf)
    }
    const lanes = width === 4 ? new Int32Array(aligned.buffer, aligned.byteOffset, n) : new Float64Array(aligned.buffer, aligned.byteOffset, n)
    for (let i = 0; i < n; i++) values[i] = lanes[i] as number
    return values
  }
  if (width === 4) for (let i = 0; i < n; i++) values[i] = buf.readInt32LE(4 * i)
  else for (let i = 0; i < n; i++) values[i] = buf.readDoubleLE(8 * i)
  return values
}

/** The reply's errors: None, a setup's one traceback, or [index, traceback, ...]. */
function errorsOf (errors: unknown): Map<number, RemoteError> | null {
  if (errors === null || errors === undefined) return null
  if (!Array.isArray(errors)) return new Map([[0, new RemoteError(text(errors))]])
  const map = new Map<number, RemoteError>()
  for (let i = 0; i + 1 < errors.length; i += 2) map.set(Number(errors[i]), new RemoteError(text(errors[i + 1])))
  return map
}
