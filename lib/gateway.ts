/**
 * A gateway: one worker process and the channels to it. Its frames travel
 * through a FramePipe: frame encoder -> the child's stdin ... the child's
 * stdout -> frame decoder. The gateway routes each
 * incoming frame to its channel by id (the master's ids are odd, the
 * worker's even, as in execnet).
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { Duplex, Readable, Writable } from 'readable-stream'
import { FramePipe } from './wire/pipe.js'
import { CHANNEL_CREDIT, CREDIT_SIZE, MessageCode, decodeCredit, messageCodeName, type Frame } from './wire/frame.js'
import { Encoder } from './serializer/dumps.js'
import { Loader, type LoadOptions } from './serializer/loads.js'
import { Tuple, tuple } from './serializer/types.js'
import { BootstrapError, DataFormatError, GatewayClosedError, OptionError, RemoteError, type ExitInfo } from './errors.js'
import { Channel, type ChannelHost, type ResolvedStrConfig, type StrConfig } from './channel.js'
import { parseSpec, type Spec } from './spec.js'
import { popen, type WorkerProcess } from './transports/popen.js'
import { ssh } from './transports/ssh.js'
import { socketWorker } from './transports/socket.js'
import { viaWorker, type ViaHost } from './transports/via.js'
import { awaitReady, bootstrapProgram, printable } from './bootstrap.js'
import { dedent, findCallable } from './source.js'
import { traceFrames, traceGateway } from './debug.js'

/** Options of Gateway.start(), makeGateway() and Group.makeGateway(). */
export interface GatewayOptions {
  /**
   * Where the worker's stderr (and what remote code prints) goes: 'inherit'
   * copies it to process.stderr (the default); 'pipe' leaves it on
   * `gateway.stderr` for you to read.
   */
  stderr?: 'inherit' | 'pipe'
  /** Milliseconds to wait for the worker's ready byte (default 60000; Jython starts slowly). */
  startTimeout?: number
  /** Largest frame accepted from the worker, in bytes (default 512 MiB). */
  maxFrameSize?: number
  /** Largest value accepted from the worker, in bytes (default 1 GiB). */
  maxValueSize?: number
  /** Deepest nesting accepted from the worker (default 1000). */
  maxDepth?: number
  /** Dicts from the worker as Maps (default) or as plain objects when all keys are strings. */
  dict?: 'map' | 'object'
  /**
   * Flow control with our worker: the bytes a channel's sender may have
   * ahead of its receiver's consumer, each way (default 4 MiB). Infinity
   * turns it off: sends never wait, as in execnet, and memory is unbounded.
   * execnet's own workers have no flow control, whatever this says.
   */
  window?: number
  /**
   * Microseconds our worker polls its input for the next message, once it
   * has read all there was, before it sleeps in a read (default 50; 0 turns
   * it off). Waking a sleeping worker is half of a small round trip's time;
   * polling costs CPU: at most this long after a message, and only while
   * messages come at least this often, and not while the machine has
   * more tasks runnable than CPUs. A worker limited to one CPU (by
   * affinity or a container's quota), or on Jython, always sleeps, as
   * execnet's workers do.
   */
  spin?: number
  /** The socket server's secret, for socket= specs (default: the EXECNET_SECRET environment variable). */
  secret?: string
  /** The gateway a via= spec goes through (Group.makeGateway fills it in from the spec's via=). */
  via?: ViaHost
}

/** How long our worker polls for input before it sleeps, by default (microseconds). */
export const DEFAULT_SPIN = 50
/** The longest poll allowed: beyond this, sleeping costs less than the CPU a poll burns. */
const MAX_SPIN = 100_000

/** Flow control's default window per channel and direction. */
export const DEFAULT_WINDOW = 4 * 1024 * 1024

/** What remoteStatus() reports, as execnet's RemoteStatus. */
export interface RemoteStatus {
  numchannels: number
  numexecuting: number
  execmodel: string
}

/** What rinfo() reports, as execnet's RInfo. */
export interface RInfo {
  executable: string
  version_info: readonly unknown[]
  platform: string
  cwd: string
  pid: number
}

/** Options of remoteExec(). */
export interface RemoteExecOptions {
  /** The function to call with (channel, **kwargs) after running the source (default: the one `def name(channel, ...)` in it, when kwargs are given). */
  call?: string
  /** The file name shown in remote tracebacks. */
  filename?: string
}

/** Remote code: Python source, or a module file to run. */
export type RemoteSource = string | { path: string | URL }

const SETUP_SOURCE = `import os
path, env = channel.receive()
if path:
    if not os.path.isdir(path):
        os.makedirs(path)
    os.chdir(path)
for name in env:
    value = env[name]
    if str is bytes:  # Python 2's environ holds bytes
        name, value = name.encode('utf-8'), value.encode('utf-8')
    os.environ[name] = value
`

const RINFO_SOURCE = `import sys, os
channel.send(dict(executable=sys.executable, version_info=tuple(sys.version_info[:5]),
                  platform=sys.platform, cwd=os.getcwd(), pid=os.getpid()))`

const EXIT_GRACE_MS = 5000

export class Gateway extends EventEmitter implements ChannelHost {
  readonly id: string
  readonly spec: Spec
  /** The worker's stderr: what remote code prints arrives here. */
  readonly stderr: Readable
  /** The frame Duplex: write {code, channelId, payload}, read Frame objects. */
  readonly frames: Duplex
  strconfig: ResolvedStrConfig = { py2strAsPy3str: true, py3strAsPy2str: false }
  readonly halfClose: boolean
  readonly flowWindow: number | null
  failure: Error | null = null
  /** Whether the worker's stderr is copied to process.stderr (stderr: 'inherit'). */
  private readonly forwardsStderr: boolean
  private pipeError: Error | null = null

  private readonly proc: WorkerProcess
  private readonly channels = new Map<number, Channel>()
  private readonly interested = new Set<Channel>()
  private readonly encoder = new Encoder()
  /** One reusable loader per string coercion (py2strAsPy3str * 2 + py3strAsPy2str). */
  private readonly loaders: Array<Loader | undefined> = [undefined, undefined, undefined, undefined]
  private readonly loadOptions: LoadOptions
  private nextId = 1
  private exiting = false
  private exitInfo: ExitInfo | null = null
  private framesEnded = false
  private finished = false
  private refHeld = true
  private drainWaiters: Array<() => void> = []
  private needDrain = false
  private readonly exited: Promise<ExitInfo>
  /** Resolves when the worker's stderr has ended (all it printed was forwarded or is readable). */
  private readonly stderrEnded: Promise<void>
  private rinfoCache: Promise<RInfo> | null = null

  private constructor (spec: Spec, id: string, proc: WorkerProcess, rest: Buffer, options: GatewayOptions, window: number | null) {
    super()
    this.spec = spec
    this.id = id
    this.proc = proc
    this.halfClose = spec.worker === 'ours'
    this.flowWindow = window
    this.forwardsStderr = options.stderr !== 'pipe'
    this.stderr = proc.stderr as unknown as Readable
    this.stderrEnded = new Promise((resolve) => {
      if (proc.stderr.readableEnded || proc.stderr.destroyed) resolve()
      proc.stderr.once('end', resolve)
      proc.stderr.once('close', resolve)
    })
    this.loadOptions = { maxValueSize: options.maxValueSize, maxDepth: options.maxDepth, dict: options.dict }
    this.exited = new Promise((resolve) => {
      const done = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
        this.exitInfo = { exitCode, signal }
        resolve(this.exitInfo)
        this.maybeFinish()
      }
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) done(proc.child.exitCode, proc.child.signalCode)
      else proc.child.once('exit', done)
    })
    if (rest.length > 0) proc.stdout.unshift(rest)
    // node:stream pipes and readable-stream are the same protocol, typed apart
    this.frames = new FramePipe(proc.stdin as unknown as Writable, proc.stdout as unknown as Readable, { maxFrameSize: options.maxFrameSize, extensions: window !== null })
    this.frames.on('data', (frame: Frame) => { this.route(frame) })
    this.frames.on('drain', () => { this.needDrain = false; this.flushDrainWaiters() })
    this.frames.on('end', () => { this.framesEnded = true; this.onFramesEnded() })
    this.frames.on('error', (err: Error) => { this.fail(err) })
    this.updateRef()
  }

  /** Start a worker for a spec and bootstrap it. */
  static async start (specText: string, options: GatewayOptions = {}, id?: string): Promise<Gateway> {
    const spec = parseSpec(specText)
    if (spec.via !== undefined && options.via === undefined) throw new OptionError(`via=${spec.via} needs the group that has gateway ${spec.via}: use Group.makeGateway`)
    const gatewayId = id ?? spec.id ?? 'gw'
    // everything that can fail before the worker exists fails here, so no
    // process is left behind by it
    const window = flowWindowOf(spec, options.window)
    const program = bootstrapProgram(spec, gatewayId, window, spinOf(options.spin))
    const proc = options.via !== undefined
      ? await viaWorker(spec, options.via, options.secret, options.startTimeout)
      : spec.transport === 'ssh' || spec.transport === 'vagrant_ssh' ? ssh(spec) : spec.transport === 'socket' ? await socketWorker(spec, options.secret, options.startTimeout) : popen(spec)
    const stderrParts: Buffer[] = []
    let stderrSize = 0
    const collect = (chunk: Buffer): void => {
      if (stderrSize < 65536) { stderrParts.push(chunk); stderrSize += chunk.length }
    }
    proc.stderr.on('data', collect)
    const spawnFailure = new Promise<Error>((resolve) => { proc.child.once('error', resolve) })
    const exitEarly = new Promise<ExitInfo>((resolve) => { proc.child.once('exit', (exitCode, signal) => { resolve({ exitCode, signal }) }) })
    proc.stdin.on('error', () => {}) // EPIPE when it dies at start: reported below with its stderr
    proc.stdin.write(program)

    const timeoutMs = options.startTimeout ?? 60000
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, timeoutMs) })
    const outcome = await Promise.race([awaitReady(proc.stdout), spawnFailure, timeout])
    clearTimeout(timer)
    const stderrText = (): string => Buffer.concat(stderrParts).toString('utf8')
    const command = proc.command.join(' ')
    if (outcome instanceof Error || outcome === 'timeout' || !outcome.ok) {
      proc.child.kill('SIGKILL')
      let exit: ExitInfo = { exitCode: null, signal: null }
      if (!(outcome instanceof Error)) exit = await exitEarly
      await new Promise((resolve) => setImmediate(resolve)) // let stderr's last chunk arrive
      const received = outcome instanceof Error || outcome === 'timeout' ? '' : printable(outcome.received)
      let reason: string
      if (outcome instanceof Error) reason = `cannot start ${command}: ${outcome.message}`
      else if (outcome === 'timeout') reason = `${command} did not answer within ${timeoutMs} ms`
      else if (received === '') reason = `${command} exited before it was ready (${describeExit(exit)})`
      else reason = `${command} wrote ${JSON.stringify(received)} instead of execnet's ready byte '1': something printed on stdout before the worker took the pipe (a sitecustomize, a shell profile, a banner), or this is not a Python interpreter`
      if (traceGateway !== null) traceGateway(`${gatewayId} failed to start: ${reason}`)
      throw new BootstrapError(reason, { stderr: stderrText(), received, ...exit })
    }
    proc.stderr.off('data', collect)
    if (options.stderr !== 'pipe') {
      for (const part of stderrParts) process.stderr.write(part)
      proc.stderr.on('data', (chunk: Buffer) => { process.stderr.write(chunk) })
    } else {
      for (const part of stderrParts.reverse()) proc.stderr.unshift(part)
    }
    const gateway = new Gateway(spec, gatewayId, proc, outcome.rest, options, window)
    if (traceGateway !== null) traceGateway(`${gatewayId} started ${command} (pid ${String(proc.child.pid)})`)
    // a socket server started the process: chdir and env can only be
    // applied now, from inside (as execnet applies them for every transport)
    const late = spec.transport === 'socket'
    const chdir = late ? spec.chdir ?? null : null
    const env = late ? spec.env : {}
    if (chdir !== null || Object.keys(env).length > 0) {
      try {
        const ch = gateway.remoteExec(SETUP_SOURCE)
        await ch.send([chdir, new Map(Object.entries(env))])
        await ch.waitClose()
      } catch (err) {
        await gateway.terminate(1)
        throw err
      }
    }
    return gateway
  }

  /** Channels this side still routes frames to (for leak checks and status displays). */
  get channelCount (): number {
    return this.channels.size
  }

  /** The worker's process id. */
  get pid (): number | undefined {
    return this.proc.child.pid
  }

  /** True while frames can still be exchanged. */
  get hasReceiver (): boolean {
    return !this.framesEnded && this.failure === null && this.pipeError === null
  }

  override toString (): string {
    return `<Gateway id=${JSON.stringify(this.id)} ${this.hasReceiver ? 'receive-live' : 'not-receiving'}, ${this.channels.size} active channels>`
  }

  // ---- execnet's API ----

  /**
   * Run Python source in the worker with a `channel` global connected to the
   * returned channel. The source is dedented, as execnet does. With kwargs,
   * the function named by options.call (or the one `def f(channel, ...)` in
   * the source) is then called as f(channel, **kwargs).
   */
  remoteExec (source: RemoteSource, kwargs?: Record<string, unknown>, options: RemoteExecOptions = {}): Channel {
    let text: string
    let filename = options.filename ?? null
    if (typeof source === 'string') {
      text = dedent(source)
    } else if (source !== null && typeof source === 'object' && 'path' in source) {
      text = readFileSync(source.path, 'utf8')
      filename ??= source.path instanceof URL ? source.path.pathname : source.path
    } else {
      throw new OptionError('remoteExec needs Python source (a string) or {path} of a module file')
    }
    let call: string | null = options.call ?? null
    const args = kwargs ?? {}
    if (call === null && Object.keys(args).length > 0) call = findCallable(text)
    const payload = this.encode(tuple(text, filename, call, args))
    const channel = this.newChannel()
    this.sendFrame(MessageCode.CHANNEL_EXEC, channel.id, payload)
    return channel
  }

  /** A new channel, not yet connected to remote code (send it inside a value). */
  newChannel (): Channel {
    this.checkOpen()
    const id = this.nextId
    this.nextId += 2
    return this.channelFor(id)
  }

  /**
   * Set the string coercion of the gateway: both sides, for channels made
   * from now on. An omitted option takes execnet's default
   * (py2strAsPy3str true, py3strAsPy2str false), as execnet's reconfigure does.
   */
  reconfigure (options: StrConfig = {}): void {
    this.checkOpen()
    this.strconfig = { py2strAsPy3str: options.py2strAsPy3str ?? true, py3strAsPy2str: options.py3strAsPy2str ?? false }
    this.sendFrame(MessageCode.RECONFIGURE, 0, this.encode(tuple(this.strconfig.py2strAsPy3str, this.strconfig.py3strAsPy2str)))
  }

  /** The worker's counts of channels and executions. */
  async remoteStatus (): Promise<RemoteStatus> {
    const channel = this.newChannel()
    this.sendFrame(MessageCode.STATUS, channel.id, [])
    try {
      const status = asRecord(await channel.receive())
      return { numchannels: Number(status.numchannels), numexecuting: Number(status.numexecuting), execmodel: String(status.execmodel ?? 'thread') }
    } finally {
      // the worker made no channel for it; forget ours without telling it
      this.forget(channel)
    }
  }

  /** The worker's interpreter, version, platform, cwd and pid (cached unless update). */
  async rinfo (update = false): Promise<RInfo> {
    if (update || this.rinfoCache === null) {
      this.rinfoCache = (async () => {
        const channel = this.remoteExec(RINFO_SOURCE)
        const info = asRecord(await channel.receive())
        await channel.waitClose()
        return {
          executable: String(info.executable),
          version_info: Array.from(info.version_info as Iterable<unknown>),
          platform: String(info.platform),
          cwd: String(info.cwd),
          pid: Number(info.pid)
        }
      })()
      this.rinfoCache.catch(() => { this.rinfoCache = null })
    }
    return await this.rinfoCache
  }

  /** Ask the worker to finish: it stops receiving, lets running code end, and exits. */
  exit (): void {
    if (this.exiting) return
    if (traceGateway !== null) traceGateway(`${this.id} exit requested`)
    this.exiting = true
    this.updateRef()
    if (this.failure === null && !this.framesEnded) {
      this.sendFrame(MessageCode.GATEWAY_TERMINATE, 0, [])
      this.frames.end()
    }
  }

  /**
   * exit(), then wait for the worker to end; after `timeout` seconds
   * (default 10) it is killed. Resolves with how it ended.
   */
  async terminate (timeout = 10): Promise<ExitInfo> {
    this.exit()
    if (this.exitInfo === null) {
      let timer: NodeJS.Timeout | undefined
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => { this.kill(); resolve() }, Math.max(0, timeout * 1000))
      })
      await Promise.race([this.exited, killed])
      clearTimeout(timer)
    }
    const info = await this.exited
    await this.finishedPromise()
    // what the worker printed last is still in its stderr pipe: it must
    // reach process.stderr before the program goes on (and maybe exits);
    // a grandchild holding the pipe open must not hold us, hence the bound
    if (this.forwardsStderr) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.stderrEnded, new Promise((resolve) => { timer = setTimeout(resolve, 1000) })])
      clearTimeout(timer)
    }
    return info
  }

  /** Kill the worker now (SIGKILL). */
  kill (): void {
    if (this.exitInfo === null) this.proc.child.kill('SIGKILL')
  }

  /** Resolves with how the worker process ended. */
  async waitExit (): Promise<ExitInfo> {
    return await this.exited
  }

  // ---- ChannelHost: what channels call ----

  encode (value: unknown): Buffer[] {
    return this.encoder.encodeChunks(value, null)
  }

  /** Why nothing more can be sent, or null while frames can go out. */
  get sendError (): Error | null {
    if (this.failure !== null) return this.failure
    if (this.finished || this.exiting || this.framesEnded) return new GatewayClosedError(`gateway ${this.id} is closed`, this.exitInfo ?? undefined)
    return null
  }

  sendFrame (code: number, channelId: number, payload: Buffer[]): boolean {
    // a broken pipe: the caller waits (whenWritable) for the gateway's end
    // and then gets its error; nothing is reported as sent that was not
    if (this.pipeError !== null || this.frames.writableEnded || this.frames.destroyed) return false
    if (traceFrames !== null) traceFrames(`${this.id} -> ${messageCodeName(code)} channel=${channelId} size=${payload.reduce((n, c) => n + c.length, 0)}`)
    const more = this.frames.write({ code, channelId, payload })
    // whenWritable() waits from here until 'drain'
    if (!more) this.needDrain = true
    return more
  }

  whenWritable (callback: () => void): void {
    if (this.finished) callback()
    else if (this.pipeError !== null || this.frames.destroyed || this.needDrain) this.drainWaiters.push(callback)
    else callback()
  }

  forget (channel: Channel): void {
    if (this.channels.get(channel.id) === channel) this.channels.delete(channel.id)
    this.interestChanged(channel)
  }

  interestChanged (channel: Channel): void {
    if (channel.wantsInput && !channel.destroyed) this.interested.add(channel)
    else this.interested.delete(channel)
    this.updateRef()
  }

  // ---- routing ----

  private channelFor (id: number): Channel {
    let channel = this.channels.get(id)
    if (channel === undefined) {
      channel = new Channel(this, id)
      this.channels.set(id, channel)
    }
    return channel
  }

  private loaderFor (config: ResolvedStrConfig): Loader {
    const key = (config.py2strAsPy3str ? 2 : 0) + (config.py3strAsPy2str ? 1 : 0)
    let loader = this.loaders[key]
    if (loader === undefined) {
      loader = new Loader({ ...this.loadOptions, ...config, channelFactory: (id) => this.channelFor(id) }, false)
      this.loaders[key] = loader
    }
    return loader
  }

  private decode (payload: Buffer, config: ResolvedStrConfig, what: string): unknown {
    try {
      return this.loaderFor(config).readOne(payload)
    } catch (err) {
      if (err instanceof DataFormatError) throw new DataFormatError(`in ${what}: ${err.reason}`, err.offset)
      throw err
    }
  }

  private route (frame: Frame): void {
    if (traceFrames !== null) traceFrames(`${this.id} <- ${messageCodeName(frame.code)} channel=${frame.channelId} size=${frame.payload.length}`)
    try {
      const { code, channelId } = frame
      switch (code) {
        case MessageCode.CHANNEL_DATA: {
          const channel = this.channels.get(channelId)
          // execnet drops data for a channel nobody holds any more
          if (channel !== undefined) channel.deliver(this.decode(frame.payload, channel.strconfig, `CHANNEL_DATA for channel ${channelId}`), frame.payload.length)
          break
        }
        case CHANNEL_CREDIT: {
          if (this.flowWindow === null) throw new DataFormatError('unexpected CHANNEL_CREDIT frame from the worker: flow control is off', 0)
          const credit = decodeCredit(frame.payload)
          if (credit === null) throw new DataFormatError(`CHANNEL_CREDIT payload of ${frame.payload.length} bytes, not ${CREDIT_SIZE}`, 0)
          this.channels.get(channelId)?.addCredit(credit)
          break
        }
        case MessageCode.CHANNEL_CLOSE:
          this.channels.get(channelId)?.remoteClosed(null)
          break
        case MessageCode.CHANNEL_CLOSE_ERROR: {
          const text = this.decode(frame.payload, this.strconfig, `CHANNEL_CLOSE_ERROR for channel ${channelId}`)
          const error = new RemoteError(Buffer.isBuffer(text) ? text.toString('utf8') : String(text))
          const channel = this.channels.get(channelId)
          if (channel !== undefined) channel.remoteClosed(error)
          else this.emit('warning', error)
          break
        }
        case MessageCode.CHANNEL_LAST_MESSAGE:
          this.channels.get(channelId)?.remoteClosed(null, true)
          break
        case MessageCode.RECONFIGURE: {
          const config = this.decode(frame.payload, this.strconfig, 'RECONFIGURE')
          if (!(config instanceof Tuple) || config.length !== 2) throw new DataFormatError('RECONFIGURE payload is not a pair of booleans', 0)
          const resolved = { py2strAsPy3str: config[0] === true, py3strAsPy2str: config[1] === true }
          if (channelId === 0) this.strconfig = resolved
          else this.channelFor(channelId).strconfig = resolved
          break
        }
        case MessageCode.CHANNEL_EXEC:
          // a master runs nothing its worker sends, as execnet's master
          this.sendFrame(MessageCode.CHANNEL_CLOSE_ERROR, channelId, this.encode('execution disallowed'))
          break
        case MessageCode.GATEWAY_TERMINATE:
          this.exit()
          break
        default:
          throw new DataFormatError(`unexpected ${messageCodeName(code)} frame from the worker`, 0)
      }
    } catch (err) {
      this.fail(err as Error)
    }
  }

  // ---- ending ----

  private checkOpen (): void {
    const error = this.sendError
    if (error !== null) throw error
  }

  /** A protocol or pipe failure: the worker is of no more use. */
  private fail (err: Error): void {
    if (this.failure !== null || this.finished) return
    if (!(err instanceof DataFormatError) && this.exitInfo === null) {
      // a broken pipe most likely means the worker died: wait for its exit
      // (a second at most) so the error can say how it ended
      if (this.pipeError === null) {
        this.pipeError = err
        const timer = setTimeout(() => { this.kill() }, 1000)
        timer.unref()
        this.updateRef()
      }
      return
    }
    const reason = err instanceof DataFormatError ? `protocol error from the worker of gateway ${this.id}: ${err.message}` : `gateway ${this.id} failed: ${err.message}`
    this.failure = new GatewayClosedError(reason, this.exitInfo ?? undefined)
    this.failure.cause = err
    this.kill()
    this.frames.destroy()
    this.closeChannels()
    this.maybeFinish()
  }

  private onFramesEnded (): void {
    if (!this.exiting && this.failure === null) {
      // the worker closed its end unasked: it is exiting or died
      this.exiting = true
      this.frames.end()
    }
    // a worker that lingers after closing the protocol is of no use
    const timer = setTimeout(() => { this.kill() }, EXIT_GRACE_MS)
    timer.unref()
    void this.exited.then(() => { clearTimeout(timer) })
    this.updateRef()
    this.maybeFinish()
  }

  private maybeFinish (): void {
    if (this.finished) return
    if (this.exitInfo === null || !(this.framesEnded || this.failure !== null || this.pipeError !== null)) return
    this.finished = true
    const info = this.exitInfo
    if (this.failure === null && !(this.exiting && info.exitCode === 0 && this.pipeError === null)) {
      this.failure = new GatewayClosedError(`the worker of gateway ${this.id} ${describeExit(info)}`, info)
      if (this.pipeError !== null) this.failure.cause = this.pipeError
    } else if (this.failure instanceof GatewayClosedError && this.failure.exitCode === null && this.failure.signal === null) {
      const cause = this.failure.cause
      this.failure = new GatewayClosedError(`${this.failure.message} (the worker ${describeExit(info)})`, info)
      this.failure.cause = cause
    }
    if (traceGateway !== null) traceGateway(`${this.id} ended: ${describeExit(info)}${this.failure !== null ? ` (${this.failure.message})` : ''}`)
    this.closeChannels()
    this.flushDrainWaiters()
    this.interested.clear()
    this.updateRef()
    this.emit('exit', info)
  }

  private finishedPromise (): Promise<void> {
    if (this.finished) return Promise.resolve()
    return new Promise((resolve) => { this.once('exit', () => { resolve() }) })
  }

  private closeChannels (): void {
    for (const channel of [...this.channels.values()]) channel.remoteClosed(this.failure, this.failure === null)
  }

  private flushDrainWaiters (): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  /**
   * Node stays alive for a gateway only while someone waits for it: a
   * receive(), a stream consumer, a callback, a start or an exit. An idle
   * gateway never keeps a finished program from exiting; its worker then
   * sees end of input and exits.
   */
  private updateRef (): void {
    const want = !this.finished && (this.interested.size > 0 || this.exiting || this.pipeError !== null)
    if (want === this.refHeld) return
    this.refHeld = want
    const handles = [this.proc.stdin, this.proc.stdout, this.proc.stderr] as unknown as Array<Partial<Socket>>
    for (const h of handles) {
      if (want) h.ref?.()
      else h.unref?.()
    }
    if (want) this.proc.child.ref()
    else this.proc.child.unref()
  }
}

function flowWindowOf (spec: Spec, window: number | undefined): number | null {
  if (window === undefined) return spec.worker === 'ours' ? DEFAULT_WINDOW : null
  if (window === Infinity) return null
  if (typeof window !== 'number' || !Number.isSafeInteger(window) || window < 1) {
    throw new OptionError(`window must be a whole number of bytes >= 1, or Infinity, not ${String(window)}`)
  }
  return spec.worker === 'ours' ? window : null
}

function spinOf (spin: number | undefined): number {
  if (spin === undefined) return DEFAULT_SPIN
  if (typeof spin !== 'number' || !Number.isFinite(spin) || spin < 0 || spin > MAX_SPIN) {
    throw new OptionError(`spin must be a number of microseconds from 0 to ${MAX_SPIN}, not ${String(spin)}`)
  }
  return spin
}

function describeExit (info: ExitInfo): string {
  if (info.signal !== null) return `was killed by ${info.signal}`
  if (info.exitCode !== null) return `exited with code ${info.exitCode}`
  return 'ended'
}

function asRecord (value: unknown): Record<string, unknown> {
  if (value instanceof Map) return Object.fromEntries(value) as Record<string, unknown>
  if (value !== null && typeof value === 'object') return value as Record<string, unknown>
  throw new DataFormatError(`expected a dict from the worker, got ${typeof value}`, 0)
}
