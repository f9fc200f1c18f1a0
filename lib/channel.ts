/**
 * One execnet channel, master side: an object-mode Duplex (write sends, what
 * the remote sends is readable, end() half-closes) with execnet's promise API
 * beside it (send, receive, waitClose, close, setCallback, reconfigure).
 *
 * A channel knows nothing of pipes or frames: it talks to its gateway
 * through the small ChannelHost interface.
 */
import { Duplex, type Readable } from './streams.js'
import { CHANNEL_CREDIT, MessageCode, encodeCredit } from './wire/frame.js'
import { ChannelClosedError, RemoteError, TimeoutError } from './errors.js'
import { channelId, None, noneAsNull, PyNone, tuple } from './serializer/types.js'
import { Fifo } from './fifo.js'
import { FlowWindow } from './flow.js'
import { errorSeen } from './unread.js'
import type { Gateway } from './gateway.js'

/**
 * execnet's string coercion pair, per gateway and per channel.
 * @category Channels
 */
export interface StrConfig {
  /** A Python 2 str arrives as a string (latin-1), not a Buffer. execnet's default: true. */
  py2strAsPy3str?: boolean
  /** Send and receive Python 3 str as Python 2 str (a Buffer on this side). execnet's default: false. */
  py3strAsPy2str?: boolean
}

/**
 * Both string-coercion options, resolved.
 * @category Channels
 */
export interface ResolvedStrConfig {
  readonly py2strAsPy3str: boolean
  readonly py3strAsPy2str: boolean
}

/** @internal What a channel needs from its gateway (Gateway implements it). */
export interface ChannelHost {
  readonly id: string
  /** Encode a value for a CHANNEL_DATA payload; throws DumpError. */
  encode: (value: unknown) => Buffer[]
  /** Queue a frame; false when the pipe wants a pause. */
  sendFrame: (code: number, channelId: number, payload: Buffer[]) => boolean
  /** Call back when the pipe has room again (or the gateway is gone). */
  whenWritable: (callback: () => void) => void
  /** Why nothing more can be sent (the gateway failed or closed), or null. */
  readonly sendError: Error | null
  /** The gateway's own error when it ended abnormally, else null. */
  readonly failure: Error | null
  /** Whether the remote side reports its close after a half-close (our worker does, execnet does not). */
  readonly halfClose: boolean
  /** Flow control's window in bytes per channel and direction, or null when it is off (execnet's workers). */
  readonly flowWindow: number | null
  /** The channel no longer takes part in routing. */
  forget: (channel: Channel) => void
  /** The channel's wish to keep Node's event loop alive changed. */
  interestChanged: (channel: Channel) => void
  strconfig: ResolvedStrConfig
}

/**
 * Options of Channel.receive().
 * @category Channels
 */
export interface ReceiveOptions {
  /** Seconds to wait, as in execnet (fractions allowed); no limit when omitted. */
  timeout?: number
  signal?: AbortSignal
}

/**
 * Options of Channel.setCallback().
 * @category Channels
 */
export interface CallbackOptions {
  /** Passed to the callback once when the channel closes. */
  endMarker?: unknown
}

/**
 * What a 'progress' event carries: payload bytes so far, each way.
 * @category Channels
 */
export interface Progress {
  bytesSent: number
  bytesReceived: number
}

/**
 * A 'progress' event comes each time this many more bytes have moved.
 * @category Channels
 */
export const PROGRESS_STEP = 1024 * 1024

/** A value encoded ahead of time by send(), so a DumpError rejects send() instead of destroying the stream. */
class Encoded {
  constructor (readonly chunks: Buffer[]) {}
}

const NO_MARKER = Symbol('no end marker')

/** A frame waiting for the remote side to grant credit (data), or for the data ahead of it. */
interface Held {
  code: number
  chunks: Buffer[]
  size: number
  done: ((error: Error | null) => void) | null
}

interface Receiver {
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  timer: NodeJS.Timeout | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * A channel's events and what their listeners get: a Duplex's, with 'data' items unknown, and 'progress'.
 * @category Channels
 */
export interface ChannelEvents {
  /** Each PROGRESS_STEP more payload bytes either way. */
  progress: [progress: Progress]
  /** A value the remote side sent (None as the PyNone value: a null chunk would end the stream). */
  data: [item: unknown]
  error: [error: Error]
  close: []
  end: []
  finish: []
  drain: []
  pause: []
  resume: []
  readable: []
  pipe: [source: Readable]
  unpipe: [source: Readable]
}

/** Listener types for the events in ChannelEvents; other events are untyped, as on any emitter. */
export interface Channel {
  /** Listen to one of the channel's events, with its listener's type (see ChannelEvents). */
  on<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this
  /** Listen to any other event. */
  on(event: string | symbol, listener: (...args: never[]) => void): this
  /** Listen to one of the channel's events once. */
  once<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this
  /** Listen to any other event once. */
  once(event: string | symbol, listener: (...args: never[]) => void): this
  /** Remove a listener of one of the channel's events. */
  off<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this
  /** Remove a listener of any other event. */
  off(event: string | symbol, listener: (...args: never[]) => void): this
}

/**
 * One execnet channel, master side: an object-mode Duplex (write sends, what
 * the remote sends is readable, end() half-closes) with execnet's promise
 * API beside it: send, receive, waitClose, close, setCallback, reconfigure.
 * Flow-controlled with our worker; counts bytes and emits 'progress'.
 * Made by Gateway.remoteExec() or Gateway.newChannel().
 *
 * A Python None is null wherever a value is returned (receive(),
 * `for await`, callbacks); only in raw stream plumbing ('data' events,
 * pipe() or pipeline() into a Writable), where a null chunk would end the
 * stream, does it travel as the None constant (PyNone).
 *
 * @example
 * ```ts
 * import { makeGateway } from 'execnet'
 *
 * const gw = await makeGateway()
 * const ch = gw.remoteExec(`
 *     for line in channel:
 *         channel.send(line.upper())
 * `)
 * await ch.send('hello')
 * console.log(await ch.receive<string>())  // 'HELLO'
 * ch.end()                                 // the remote loop ends
 * await ch.waitClose()
 * await gw.terminate()
 * ```
 * @category Channels
 */
export class Channel extends Duplex {
  readonly id: number
  /** The gateway, as the channel sees it (lib/gateway.ts implements it). */
  private readonly host: ChannelHost
  /** The coercion this channel's incoming values are read with. */
  strconfig: ResolvedStrConfig
  private closedState = false
  private receiveClosed = false
  private closeError: Error | null = null
  /** Received items not yet in the stream's buffer. */
  private queue = new Fifo<unknown>()
  /** The stream's consumer asked for more (_read) and has not been given it. */
  private wanted = false
  private streamEnded = false
  private errorAfterDrain: Error | null = null
  /** Pending receive() calls, oldest first. */
  private receivers = new Fifo<Receiver>()
  private callback: ((item: unknown) => void) | null = null
  private endMarker: unknown = NO_MARKER
  private closeWaiters: Array<() => void> = []
  /** Whether readers keep Node alive (see setKeepAlive). */
  private keepsAlive = true
  /** Sizes of the items in `queue`, and of those pushed into the stream's buffer. */
  private queueSizes = new Fifo<number>()
  private bufferedSizes = new Fifo<number>()
  /** Flow control's windows (lib/flow.ts); frames that wait for credit are in `held`. */
  private readonly flow: FlowWindow
  private held = new Fifo<Held>()
  private nextProgress = PROGRESS_STEP
  private releasing = false

  /** @internal Channels are made by their gateway (remoteExec, newChannel) or arrive inside values. */
  constructor (gateway: ChannelHost, id: number) {
    super({ objectMode: true, allowHalfOpen: true, highWaterMark: 16 })
    this.host = gateway
    this.id = id
    this.strconfig = gateway.strconfig
    this.flow = new FlowWindow(gateway.flowWindow)
    // errors reach receive()/waitClose() and stream consumers' own listeners;
    // this one keeps an unobserved channel error from crashing the process,
    // and counts it read when another listener has it too (lib/unread.ts)
    this.on('error', (err: Error) => { if (this.listenerCount('error') > 1) errorSeen(err) })
    this.on('newListener', (event: string) => { if (event === 'data' || event === 'readable') queueMicrotask(() => { this.host.interestChanged(this) }) })
    this.on('removeListener', (event: string) => { if (event === 'data' || event === 'readable') this.host.interestChanged(this) })
  }

  /** The gateway this channel belongs to. */
  get gateway (): Gateway {
    // Gateway is the only ChannelHost; the interface keeps what a channel may call small
    return this.host as Gateway
  }

  /** Lets dumps() write this channel inside a value (opcode B), as execnet does. */
  get [channelId] (): number {
    return this.id
  }

  /** True once the channel is closed for sending (it may still hold items to read). */
  get isClosed (): boolean {
    return this.closedState
  }

  /** Payload bytes sent on this channel so far (counted as they go to the pipe). */
  get bytesSent (): number {
    return this.flow.sent
  }

  /** Payload bytes received on this channel so far. */
  get bytesReceived (): number {
    return this.flow.received
  }

  /** @internal
   * Whether readers of this channel keep Node alive (default true). A via
   * gateway's relay reads its channels all the time; it sets this to what
   * the relayed gateway wants, so that an idle relayed gateway, like any
   * idle gateway, does not keep a finished program running.
   */
  setKeepAlive (on: boolean): void {
    if (this.keepsAlive === on) return
    this.keepsAlive = on
    this.host.interestChanged(this)
  }

  /** @internal Whether this channel wants Node to stay alive: someone waits for what it receives, or for credit to send. */
  get wantsInput (): boolean {
    if (!this.keepsAlive) return false
    if (this.held.length > 0) return true
    if (this.receiveClosed && this.readableLength === 0 && this.queue.length === 0) return false
    return this.receivers.length > 0 || this.callback !== null || this.closeWaiters.length > 0 ||
      this.listenerCount('data') > 0 || this.listenerCount('readable') > 0
  }

  override toString (): string {
    return `<Channel id=${this.id} ${this.closedState ? 'closed' : 'open'}>`
  }

  // ---- sending ----

  /** Send one value; resolves when it is handed to the pipe. Rejects with DumpError, leaving the channel usable. */
  async send (value: unknown): Promise<void> {
    if (this.closedState) throw seen(this.closeError ?? new ChannelClosedError(`cannot send to ${this.toString()}`))
    const broken = this.host.sendError
    if (broken !== null) throw broken
    const chunks = this.host.encode(value)
    if (this.writableLength === 0 && !this.writableEnded && !this.destroyed) {
      // nothing queued on the stream side: straight to the gateway, in order,
      // without the Writable's per-write bookkeeping
      const size = sizeOf(chunks)
      if (this.held.length === 0 && this.flow.open) {
        if (this.handOver(MessageCode.CHANNEL_DATA, chunks, size)) return
        await new Promise<void>((resolve) => { this.host.whenWritable(resolve) })
        const error = this.host.sendError
        if (error !== null) throw error
        return
      }
      await new Promise<void>((resolve, reject) => {
        this.output(MessageCode.CHANNEL_DATA, chunks, size, (err) => { err === null ? resolve() : reject(seen(err)) })
      })
      return
    }
    await new Promise<void>((resolve, reject) => {
      this.write(new Encoded(chunks), (err) => { err == null ? resolve() : reject(seen(err)) })
    })
  }

  /** Stream internals: sends one written value. */
  override _write (value: unknown, _encoding: string, callback: (error?: Error | null) => void): void {
    if (this.closedState) {
      callback(this.closeError ?? new ChannelClosedError(`cannot send to ${this.toString()}`))
      return
    }
    const broken = this.host.sendError
    if (broken !== null) {
      callback(broken)
      return
    }
    let chunks: Buffer[]
    try {
      chunks = value instanceof Encoded ? value.chunks : this.host.encode(value instanceof PyNone ? null : value)
    } catch (err) {
      callback(err as Error)
      return
    }
    this.output(MessageCode.CHANNEL_DATA, chunks, sizeOf(chunks), callback)
  }

  /**
   * end(): nothing more will be written. The remote sees the end of its
   * input (its `for item in channel` loop ends) and can still send; the
   * readable side ends when it closes. A real execnet worker has no such
   * half-close, so there end() closes the channel as execnet's close() does.
   */
  override _final (callback: (error?: Error | null) => void): void {
    if (!this.closedState) {
      if (this.host.halfClose) {
        if (!this.receiveClosed || this.readableLength > 0) this.output(MessageCode.CHANNEL_LAST_MESSAGE, [], 0, null)
        if (this.receiveClosed) this.release()
      } else {
        this.close()
      }
    }
    callback()
  }

  /**
   * execnet's close(): closes both directions, with an error text for the
   * remote side's RemoteError when given. Items already received can still
   * be read.
   */
  close (error?: string | Error): void {
    if (this.closedState) return
    if (!this.receiveClosed && this.host.failure === null) {
      // after the data still waiting for credit, which it must not overtake
      if (error === undefined) {
        this.output(MessageCode.CHANNEL_CLOSE, [], 0, null)
      } else {
        const text = typeof error === 'string' ? error : error instanceof RemoteError ? error.formatted : String(error.stack ?? error)
        this.output(MessageCode.CHANNEL_CLOSE_ERROR, this.host.encode(text), 0, null)
      }
    }
    this.closedState = true
    this.finishReceiving(null)
    this.release()
  }

  /** Set the string coercion for this channel (both options; an omitted one takes execnet's default). */
  reconfigure (options: StrConfig = {}): void {
    const config = { py2strAsPy3str: options.py2strAsPy3str ?? true, py3strAsPy2str: options.py3strAsPy2str ?? false }
    this.strconfig = config
    this.output(MessageCode.RECONFIGURE, this.host.encode(tuple(config.py2strAsPy3str, config.py3strAsPy2str)), 0, null)
  }

  // ---- receiving ----

  /**
   * The next value the remote side sent (None arrives as null). Rejects with
   * the RemoteError that closed the channel, ChannelClosedError when it
   * closed normally, TimeoutError after `timeout` seconds. `T` is what you
   * expect the remote side to send; nothing checks it.
   *
   * @example
   * ```ts
   * const ch = gw.remoteExec('channel.send(sum(channel.receive()))')
   * await ch.send([1, 2, 3])
   * const total = await ch.receive<number>({ timeout: 5 })  // 6, or TimeoutError after 5 s
   * ```
   */
  receive<T = unknown> (options: ReceiveOptions = {}): Promise<T> {
    // T is the caller's word for what the remote side sends: nothing checks it
    return this.next(options) as Promise<T>
  }

  private next (options: ReceiveOptions): Promise<unknown> {
    if (this.callback !== null) return Promise.reject(new Error(`cannot receive() on ${this.toString()}: it has a callback`))
    // the stream's buffer holds older items than our queue
    if (this.readableLength > 0) return Promise.resolve(noneAsNull(this.read()))
    if (this.queue.length > 0) return Promise.resolve(noneAsNull(this.takeQueued()))
    if (this.receiveClosed) {
      if (this.failure === null) this.endStream()
      return Promise.reject(seen(this.endError()))
    }
    let ms: number | null
    try {
      ms = timeoutMs(options.timeout)
    } catch (err) {
      return Promise.reject(err)
    }
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      const receiver: Receiver = { resolve, reject, timer: undefined, signal, onAbort: undefined }
      if (ms !== null) {
        receiver.timer = setTimeout(() => {
          this.dropReceiver(receiver)
          reject(new TimeoutError(`no item after ${String(options.timeout)} seconds`))
        }, ms)
      }
      if (signal !== undefined) {
        receiver.onAbort = () => {
          this.dropReceiver(receiver)
          reject(signal.reason)
        }
        signal.addEventListener('abort', receiver.onAbort, { once: true })
      }
      this.receivers.push(receiver)
      if (this.receivers.length === 1) this.host.interestChanged(this)
    })
  }

  /**
   * Every value the remote side sends, until it closes the channel (None
   * arrives as null, as from receive()); a remote error is thrown from the
   * loop. Leaving the loop early closes the channel.
   */
  override async * [Symbol.asyncIterator] (): AsyncGenerator<unknown, void, undefined> {
    for await (const item of super[Symbol.asyncIterator]()) yield noneAsNull(item)
  }

  /**
   * Resolves when the remote side has closed the channel (or will send no
   * more); rejects with its RemoteError, or TimeoutError.
   */
  async waitClose (timeout?: number): Promise<void> {
    const deadline = deadlineOf(timeout)
    if (!this.receiveClosed) {
      let release = (): void => {}
      const closed = new Promise<void>((resolve) => { release = resolve; this.closeWaiters.push(resolve) })
      this.host.interestChanged(this)
      try {
        await withDeadline(closed, deadline, () => `Timeout after ${String(timeout)} seconds`)
      } finally {
        this.closeWaiters = this.closeWaiters.filter((w) => w !== release)
        this.host.interestChanged(this)
      }
    }
    const error = this.failure
    if (error !== null) throw seen(error)
  }

  /**
   * Receive by callback from now on: items already queued go to it first,
   * then each new one as it arrives. With `endMarker`, the callback gets it
   * once when the channel closes. An exception in the callback closes the
   * channel with its text as the remote side's error, as execnet does.
   */
  setCallback (callback: (item: unknown) => void, options: CallbackOptions = {}): void {
    if (this.callback !== null) throw new Error(`${this.toString()} has a callback already`)
    this.endMarker = 'endMarker' in options ? options.endMarker : NO_MARKER
    const queued: unknown[] = []
    for (let item: unknown = this.read(); item !== null; item = this.read()) queued.push(noneAsNull(item))
    for (const item of this.queue.drain()) queued.push(item)
    for (const size of this.queueSizes.drain()) this.account(0, size)
    this.callback = callback
    this.host.interestChanged(this)
    for (const item of queued) if (!this.invoke(item)) return
    if (this.receiveClosed) this.endCallback()
  }

  // ---- called by the gateway ----

  /** @internal
   * A value arrived for this channel, from a payload of `size` bytes. What
   * the channel's consumers throw while taking it (a 'data' listener, the
   * sink a pipe() writes to) fails this channel with that error, not the
   * gateway: see consumerFailed().
   */
  deliver (value: unknown, size = 0): void {
    try {
      this.accept(value, size)
    } catch (err) {
      this.consumerFailed(err)
    }
  }

  private accept (value: unknown, size: number): void {
    if (this.receiveClosed) return
    this.account(size, 0)
    this.progress()
    if (this.callback !== null) {
      if (this.invoke(value)) this.account(0, size)
      return
    }
    // a waiting receive() takes it directly when nothing older is queued
    if (this.receivers.length > 0 && this.queue.length === 0 && this.readableLength === 0) {
      const receiver = this.receivers.shift() as Receiver
      this.settle(receiver)
      this.account(0, size)
      receiver.resolve(value)
      if (this.receivers.length === 0) this.host.interestChanged(this)
      return
    }
    this.queue.push(value)
    this.queueSizes.push(size)
    if (this.wanted) this.pump()
  }

  /** @internal The remote side granted `bytes` more to send (flow control). */
  addCredit (bytes: number): void {
    this.flow.grant(bytes)
    while (this.held.length > 0) {
      const next = this.held.peek() as Held
      if (next.code === MessageCode.CHANNEL_DATA && !this.flow.open) break
      this.held.shift()
      this.emitHeld(next)
    }
    if (this.held.length === 0) {
      this.host.interestChanged(this)
      if (this.releasing) this.host.forget(this)
    }
  }

  /** @internal
   * The remote side closed (sendonly: it only stopped sending, it still
   * takes what we send), or the gateway ended (error: why, when abnormal).
   */
  remoteClosed (error: Error | null, sendonly = false): void {
    try {
      this.closedByRemote(error, sendonly)
    } catch (err) {
      this.consumerFailed(err)
    }
  }

  private closedByRemote (error: Error | null, sendonly: boolean): void {
    if (!sendonly) this.closedState = true
    if (this.closeError === null && error !== null) this.closeError = error
    this.finishReceiving(error)
    const stuck = this.host.sendError ?? (sendonly ? null : this.endError())
    if (stuck !== null) this.failHeld(stuck)
    // a channel the remote side only stopped sending on still routes the
    // credit for what we send, until we close or end it too
    if (stuck !== null || this.closedState || this.writableFinished) this.release()
  }

  /** Stream internals: Readable's read(), counting what a stream consumer takes (flow control). */
  override read (size?: number): unknown {
    const item: unknown = super.read(size)
    if (item !== null && this.bufferedSizes.length > 0) this.account(0, this.bufferedSizes.shift() as number)
    if (this.errorAfterDrain !== null && this.readableLength === 0) {
      const error = this.errorAfterDrain
      this.errorAfterDrain = null
      process.nextTick(() => { this.destroy(error) })
    }
    return item
  }

  /** Stream internals: the consumer wants more. */
  override _read (): void {
    this.wanted = true
    this.pump()
  }

  /**
   * Stream internals: closes the channel; destroyed with an error (by a
   * pipeline whose other stream failed, or a consumer that threw), the
   * remote side's channel is closed with that error's text.
   */
  override _destroy (error: Error | null, callback: (error: Error | null) => void): void {
    // a consumer that stops early (a `for await` left by break, a pipeline
    // cut short) destroys with an AbortError or a premature close: that is
    // a plain close, not a failure to report to the remote side
    if (!this.closedState) this.close(error === null || isStop(error) ? undefined : error)
    this.host.interestChanged(this)
    callback(error)
  }

  // ---- internals ----

  /**
   * A consumer of this channel threw: the error belongs to this channel. It
   * is destroyed with that error (a pipeline it is in rejects with it), the
   * remote side's channel closes with its text, and the gateway and its
   * other channels go on.
   */
  private consumerFailed (err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    if (!this.destroyed) this.destroy(error)
  }

  private finishReceiving (error: Error | null): void {
    if (this.receiveClosed) return
    this.receiveClosed = true
    for (const release of this.closeWaiters) release()
    this.closeWaiters = []
    if (this.callback !== null) this.endCallback()
    if (this.receivers.length > 0) {
      const receivers = this.receivers.drain()
      const error = this.endError()
      if (this.failure === null) this.endStream()
      for (const receiver of receivers) {
        this.settle(receiver)
        receiver.reject(seen(error))
      }
    }
    if (this.wanted) this.pump()
    this.host.interestChanged(this)
  }

  /** Moves queued items into the stream's buffer while a stream consumer wants them; ends or errors it after the last. */
  private pump (): void {
    while (this.wanted && this.queue.length > 0) {
      const value = this.queue.shift()
      const size = this.queueSizes.shift() as number
      const before = this.readableLength
      this.wanted = this.push(value === null ? None : value)
      // a flowing stream hands an item straight to its 'data' listeners;
      // a buffered one is consumed when its reader takes it (read())
      if (this.readableLength > before) this.bufferedSizes.push(size)
      else this.account(0, size)
    }
    if (this.queue.length === 0 && this.receiveClosed && this.wanted) {
      const error = this.failure
      // a stream consumer reads until the end: it gets the error there,
      // after the items still in the stream's buffer
      if (error === null) this.endStream()
      else if (this.readableLength === 0) this.destroy(error)
      else this.errorAfterDrain = error
    }
  }

  /** Stop routing to this channel, once the frames held for credit have gone (their credit comes through routing). */
  private release (): void {
    if (this.held.length > 0) this.releasing = true
    else this.host.forget(this)
  }

  private takeQueued (): unknown {
    this.account(0, this.queueSizes.shift() as number)
    return this.queue.shift()
  }

  /** Send a frame of this channel now, or after the data held back for credit. */
  private output (code: number, chunks: Buffer[], size: number, done: ((error: Error | null) => void) | null): void {
    if (this.held.length > 0 || (code === MessageCode.CHANNEL_DATA && !this.flow.open)) {
      this.held.push({ code, chunks, size, done })
      if (this.held.length === 1) {
        this.host.interestChanged(this)
        // blocked: grant the remote side all we hold, so that two sides
        // that both send before reading buffer instead of deadlocking
        this.account(0, 0)
      }
      return
    }
    this.emitHeld({ code, chunks, size, done })
  }

  private emitHeld (frame: Held): void {
    const more = this.handOver(frame.code, frame.chunks, frame.size)
    const done = frame.done
    if (done === null) return
    if (more) done(null)
    else this.host.whenWritable(() => { done(this.host.sendError) })
  }

  /** Hand one frame to the gateway; false when the pipe wants a pause. */
  private handOver (code: number, chunks: Buffer[], size: number): boolean {
    if (code === MessageCode.CHANNEL_DATA) {
      this.flow.spend(size)
      this.progress()
    }
    return this.host.sendFrame(code, this.id, chunks)
  }

  private failHeld (error: Error): void {
    if (this.held.length === 0) return
    for (const frame of this.held.drain()) frame.done?.(error)
    this.host.interestChanged(this)
  }

  /** Count bytes received and consumed, and send the remote side the grant that is due (lib/flow.ts). */
  private account (received: number, consumed: number): void {
    const grant = this.flow.account(received, consumed, this.held.length > 0, this.receiveClosed)
    if (grant > 0) this.host.sendFrame(CHANNEL_CREDIT, this.id, [encodeCredit(grant)])
  }

  private progress (): void {
    const { sent, received } = this.flow
    if (sent + received < this.nextProgress) return
    this.nextProgress = sent + received + PROGRESS_STEP
    if (this.listenerCount('progress') > 0) this.emit('progress', { bytesSent: sent, bytesReceived: received } satisfies Progress)
  }

  private endStream (): void {
    if (this.streamEnded) return
    this.streamEnded = true
    this.push(null)
  }

  private settle (receiver: Receiver): void {
    if (receiver.timer !== undefined) clearTimeout(receiver.timer)
    if (receiver.onAbort !== undefined) {
      receiver.signal?.removeEventListener('abort', receiver.onAbort)
      receiver.onAbort = undefined
    }
  }

  private dropReceiver (receiver: Receiver): void {
    this.receivers.remove(receiver)
    this.settle(receiver)
    if (this.receivers.length === 0) this.host.interestChanged(this)
  }

  private invoke (item: unknown): boolean {
    const callback = this.callback
    if (callback === null) return false
    try {
      callback(item)
      return true
    } catch (err) {
      const text = err instanceof Error ? String(err.stack ?? err) : String(err)
      this.close(text)
      return false
    }
  }

  private endCallback (): void {
    const callback = this.callback
    if (callback !== null && this.endMarker !== NO_MARKER) {
      const marker = this.endMarker
      this.endMarker = NO_MARKER
      callback(marker)
    }
  }

  /** Why the channel ended abnormally (its remote error, or its gateway's), or null. */
  private get failure (): Error | null {
    return this.closeError ?? this.host.failure
  }

  private endError (): Error {
    return this.failure ?? new ChannelClosedError(`${this.toString()} is closed: no more items`)
  }
}

/** A consumer is handed `error`: a remote error it carries is read, not to be reported (lib/unread.ts). */
function seen<E> (error: E): E {
  errorSeen(error)
  return error
}

function isStop (error: Error): boolean {
  return error.name === 'AbortError' || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE'
}

function sizeOf (chunks: readonly Buffer[]): number {
  let size = 0
  for (const c of chunks) size += c.length
  return size
}

function timeoutMs (timeout: number | undefined): number | null {
  if (timeout === undefined || timeout === null) return null
  if (typeof timeout !== 'number' || !(timeout >= 0)) throw new TypeError(`timeout must be a number of seconds >= 0, not ${String(timeout)}`)
  return timeout * 1000
}

function deadlineOf (timeout: number | undefined): number | null {
  const ms = timeoutMs(timeout)
  return ms === null ? null : Date.now() + ms
}

async function withDeadline (promise: Promise<void>, deadline: number | null, text: () => string): Promise<void> {
  if (deadline === null) return await promise
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new TimeoutError(text())) }, Math.max(0, deadline - Date.now()))
  })
  try {
    await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}
