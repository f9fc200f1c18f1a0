/**
 * A gateway: one worker process and the channels to it. Its frames travel
 * through a FramePipe: frame encoder -> the child's stdin ... the child's
 * stdout -> frame decoder. The gateway routes each
 * incoming frame to its channel by id (the master's ids are odd, the
 * worker's even, as in execnet).
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { finished, loadStreams, type Duplex, type Readable, type Writable } from './streams.js'
import { FramePipe } from './wire/pipe.js'
import { CHANNEL_CREDIT, CREDIT_SIZE, MessageCode, decodeCredit, messageCodeName, type Frame } from './wire/frame.js'
import { Encoder } from './serializer/dumps.js'
import { Loader, type LoadOptions } from './serializer/loads.js'
import { Tuple, tuple } from './serializer/types.js'
import { BootstrapError, DataFormatError, DumpError, GatewayClosedError, OptionError, RemoteError, type ExitInfo } from './errors.js'
import { Channel, type ChannelHost, type ResolvedStrConfig, type StrConfig } from './channel.js'
import { parseSpec, type Spec } from './spec.js'
import { openTransport, type Transport } from './transports/index.js'
import type { ViaHost } from './transports/via.js'
import type { InstallHost } from './transports/socket.js'
import type { SlurmJob } from './transports/slurm.js'
import { describeExit, isFinal, next, type GatewayEvent, type GatewayState } from './lifecycle.js'
import { awaitReady, prepareBootstrap, printable } from './bootstrap.js'
import { dedent, findCallable } from './source.js'
import { remoteFunction, type RemoteFunction } from './call.js'
import type { FunctionOptions } from './function-target.js'
import { traceFrames, traceGateway } from './debug.js'
import { reportUnread, watchUnread } from './unread.js'

/**
 * Options of Gateway.start(), makeGateway() and Group.makeGateway().
 * @category Gateways
 */
export interface GatewayOptions {
  /**
   * Where the worker's stderr (and what remote code prints) goes: 'inherit'
   * copies it to process.stderr (the default); 'pipe' leaves it on
   * `gateway.stderr` for you to read.
   */
  stderr?: 'inherit' | 'pipe'
  /** Seconds to wait for the worker's ready byte, as every duration here is in seconds (default 60; Jython starts slowly). */
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
  /** The gateway a socket//installvia= spec starts its socket server through (Group.makeGateway fills it in). */
  installVia?: InstallHost
  /**
   * The keep-alive of ssh gateways (ssh=, vagrant_ssh=, and ssh through
   * via=), in whole seconds (default 5; 0 turns it off, leaving it to your
   * ssh_config). After this long with nothing from the host, ssh probes its
   * sshd; after 3 probes unanswered (`ServerAliveCountMax`) it drops the
   * connection and the gateway fails: a host whose link or machine is gone
   * fails its gateway, and rejects its pending receive()s with a
   * GatewayClosedError, 15-20 s after its last byte by default (between 3x
   * and 4x this value). The probe is answered by the remote sshd, not by
   * Python, so a worker busy in a long computation is never taken for dead.
   * A spec whose ssh= value sets `-o ServerAlive...` keeps its own.
   * Without a keep-alive, a lost link is noticed only when TCP gives up on
   * unacknowledged data (about 15 minutes on Linux) or never, on an idle
   * connection.
   */
  keepAlive?: number
}

/**
 * The ssh keep-alive's interval by default, in seconds (GatewayOptions.keepAlive).
 * @category Gateways
 */
export const DEFAULT_KEEPALIVE = 5

/**
 * How long our worker polls for input before it sleeps, by default (microseconds).
 * @category Gateways
 */
export const DEFAULT_SPIN = 50
/** The longest poll allowed: beyond this, sleeping costs less than the CPU a poll burns. */
const MAX_SPIN = 100_000

/**
 * Flow control's default window per channel and direction.
 * @category Gateways
 */
export const DEFAULT_WINDOW = 4 * 1024 * 1024

/**
 * What remoteStatus() reports, as execnet's RemoteStatus.
 * @category Gateways
 */
export interface RemoteStatus {
  numchannels: number
  numexecuting: number
  execmodel: string
}

/**
 * What rinfo() reports, as execnet's RInfo.
 * @category Gateways
 */
export interface RInfo {
  executable: string
  version_info: readonly unknown[]
  platform: string
  cwd: string
  pid: number
}

/**
 * Options of remoteExec().
 * @category Gateways
 */
export interface RemoteExecOptions {
  /** The function to call with (channel, **kwargs) after running the source (default: the one `def name(channel, ...)` in it, when kwargs are given). */
  call?: string
  /** The file name shown in remote tracebacks. */
  filename?: string
}

/**
 * Remote code: Python source, or a module file to run.
 * @category Gateways
 */
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

/** How long a worker may linger after it closed its output, or the output after the worker ended, before it is ended for it. */
const EXIT_GRACE_MS = 5000
/** How long a worker whose pipe broke has to exit on its own, so the error can say how it ended. */
const BROKEN_GRACE_MS = 1000

/**
 * A gateway's events and what their listeners get.
 * @category Gateways
 */
export interface GatewayEvents {
  /** Each step of the lifecycle: 'open', 'closing', 'broken', 'failed', 'closed'. */
  phase: [phase: GatewayState['phase']]
  /** The worker is gone, and how it ended. */
  exit: [exit: ExitInfo]
  /** A remote exception no consumer of its channel was handed (see Gateway). */
  remoteError: [error: RemoteError, channelId: number]
}

/** Listener types for the events in GatewayEvents. */
export interface Gateway {
  /** Listen to one of the gateway's events, with its listener's type. */
  on<E extends keyof GatewayEvents>(event: E, listener: (...args: GatewayEvents[E]) => void): this
  /** Listen to any other event. */
  on(event: string | symbol, listener: (...args: never[]) => void): this
  /** Listen to one of the gateway's events once. */
  once<E extends keyof GatewayEvents>(event: E, listener: (...args: GatewayEvents[E]) => void): this
  /** Listen to any other event once. */
  once(event: string | symbol, listener: (...args: never[]) => void): this
  /** Remove a listener of one of the gateway's events. */
  off<E extends keyof GatewayEvents>(event: E, listener: (...args: GatewayEvents[E]) => void): this
  /** Remove a listener of any other event. */
  off(event: string | symbol, listener: (...args: never[]) => void): this
}

/**
 * One worker (a Python interpreter, local, over ssh, through a socket
 * server or another gateway) and the channels to it: remoteExec() runs
 * code there with a channel to it; exit(), terminate() and kill() end it.
 * Made by makeGateway(), Gateway.start() or Group.makeGateway(). Emits
 * 'exit' (with how the worker ended) once it is gone, and 'phase' at each
 * step of its lifecycle (open, closing, broken, failed, closed).
 *
 * Emits 'remoteError' (error: RemoteError, channelId: number) for a remote
 * exception that no consumer of its channel was handed: no receive(),
 * waitClose() or send() rejected with it, no 'error' listener of one's own
 * (for await, pipeline and on('error') have one) was given it. A 'data'
 * listener or a setCallback() alone does not get errors: read waitClose()
 * beside them. It comes once per channel, when the channel is garbage
 * collected with the error unread or when Node is about to exit
 * ('beforeExit'), whichever is first (as execnet warns when a channel is
 * deleted); for an error that arrives for a channel this side no longer
 * routes to, at once. Without a 'remoteError' listener it is a process
 * warning instead (type 'ExecnetWarning', code
 * 'EXECNET_UNREAD_REMOTE_ERROR', the traceback's last line, the whole
 * traceback as its detail). An execution ended by KeyboardInterrupt
 * ("keyboard-interrupted") is never reported, as in execnet.
 * @category Gateways
 */
export class Gateway extends EventEmitter {
  readonly id: string
  readonly spec: Spec
  /** The worker's stderr: what remote code prints arrives here. */
  readonly stderr: Readable
  /** The frame Duplex: write {code, channelId, payload}, read Frame objects. */
  readonly frames: Duplex
  strconfig: ResolvedStrConfig = { py2strAsPy3str: true, py3strAsPy2str: false }
  /** @internal Whether the remote side reports its close after a half-close (our worker does, execnet's does not). */
  readonly halfClose: boolean
  /** @internal Flow control's window per channel and direction, or null when it is off. */
  readonly flowWindow: number | null
  /** Whether the worker's stderr is copied to process.stderr (stderr: 'inherit'). */
  private readonly forwardsStderr: boolean
  /** Where the lifecycle is (lib/lifecycle.ts); changed only by transition(). */
  private state: GatewayState = { phase: 'open' }
  private readonly transport: Transport
  private readonly channels = new Map<number, Channel>()
  private readonly interested = new Set<Channel>()
  private readonly encoder = new Encoder()
  /** One reusable loader per string coercion (py2strAsPy3str * 2 + py3strAsPy2str). */
  private readonly loaders: Array<Loader | undefined> = [undefined, undefined, undefined, undefined]
  private readonly loadOptions: LoadOptions
  private nextId = 1
  /** Callers awaiting waitExit() or terminate(): each keeps Node alive. */
  private waiting = 0
  private refHeld = true
  private drainWaiters: Array<() => void> = []
  private needDrain = false
  /** Resolves with how the worker ended, once the gateway is final. */
  private readonly ended: Promise<ExitInfo>
  private resolveEnded: (info: ExitInfo) => void = () => {}
  /** Resolves when the worker's stderr has ended (all it printed was forwarded or is readable). */
  private readonly stderrEnded: Promise<void>
  private rinfoCache: Promise<RInfo> | null = null

  private constructor (spec: Spec, id: string, transport: Transport, rest: Buffer, options: GatewayOptions, window: number | null) {
    super()
    this.spec = spec
    this.id = id
    this.transport = transport
    this.halfClose = spec.worker === 'ours'
    this.flowWindow = window
    this.forwardsStderr = options.stderr !== 'pipe'
    const stderr = transport.stderr
    this.stderr = stderr as unknown as Readable
    this.stderrEnded = new Promise((resolve) => {
      if (stderr.readableEnded || stderr.destroyed) resolve()
      stderr.once('end', resolve)
      stderr.once('close', resolve)
    })
    this.loadOptions = { maxValueSize: options.maxValueSize, maxDepth: options.maxDepth, dict: options.dict }
    this.ended = new Promise((resolve) => { this.resolveEnded = resolve })
    if (rest.length > 0) transport.output.unshift(rest)
    // node:stream pipes and readable-stream are the same protocol, typed apart
    const frames = new FramePipe(transport.input as unknown as Writable, transport.output as unknown as Readable, { maxFrameSize: options.maxFrameSize, extensions: window !== null })
    this.frames = frames
    frames.on('data', (frame: Frame) => { this.route(frame) })
    frames.on('drain', () => {
      this.needDrain = false
      // a broken pipe drains into nothing: its waiters wait for the verdict
      if (!this.awaitingVerdict) this.flushDrainWaiters()
    })
    frames.on('inputError', (err: Error) => { this.transition({ type: 'broken', error: err }) })
    // the worker's output is done when it ended, errored or just closed (a
    // destroyed socket emits nothing else); every frame before it was routed
    const framesDone = new Promise<void>((resolve) => {
      finished(frames, { writable: false }, (err) => {
        if (err == null) this.transition({ type: 'eof' })
        else this.transition({ type: err instanceof DataFormatError ? 'protocol' : 'broken', error: err })
        resolve()
      })
    })
    frames.on('error', () => {}) // reported through finished() above
    void transport.exited.then(() => {
      // a grandchild holding the worker's stdout open must not hold the gateway
      const timer = setTimeout(() => { frames.destroy() }, EXIT_GRACE_MS)
      timer.unref()
      void framesDone.then(() => { clearTimeout(timer) })
    })
    void Promise.all([transport.exited, framesDone]).then(([exit]) => { this.transition({ type: 'gone', exit }) })
    this.updateRef()
  }

  /** Start a worker for a spec and bootstrap it. */
  static async start (specText: string, options: GatewayOptions = {}, id?: string): Promise<Gateway> {
    const spec = parseSpec(specText)
    if (spec.via !== undefined && options.via === undefined) throw new OptionError(`via=${spec.via} needs the group that has gateway ${spec.via}: use Group.makeGateway`)
    if (spec.installvia !== undefined && options.installVia === undefined) throw new OptionError(`installvia=${spec.installvia} needs the group that has gateway ${spec.installvia}: use Group.makeGateway`)
    const gatewayId = id ?? spec.id ?? 'gw'
    // everything that can fail before the worker exists fails here, so no
    // process is left behind by it
    const window = flowWindowOf(spec, options.window)
    const program = prepareBootstrap(spec, gatewayId, window, spinOf(options.spin))
    const timeoutMs = startTimeoutMs(options.startTimeout)
    const keepAlive = keepAliveOf(options.keepAlive)
    const proc = await openTransport(spec, { via: options.via, installVia: options.installVia, secret: options.secret, startTimeoutMs: timeoutMs, keepAlive, gatewayId })
    const stderrParts: Buffer[] = []
    let stderrSize = 0
    const collect = (chunk: Buffer): void => {
      if (stderrSize < 65536) { stderrParts.push(chunk); stderrSize += chunk.length }
    }
    proc.stderr.on('data', collect)
    proc.input.on('error', () => {}) // EPIPE when it dies at start: reported below with its stderr
    // made now, while the interpreter starts; so is readable-stream loaded (lib/streams.ts)
    proc.input.write(program())
    loadStreams()

    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, timeoutMs) })
    const outcome = await Promise.race([awaitReady(proc.output), proc.spawnError, timeout])
    clearTimeout(timer)
    const stderrText = (): string => Buffer.concat(stderrParts).toString('utf8')
    const command = proc.command.join(' ')
    if (outcome instanceof Error || outcome === 'timeout' || !outcome.ok) {
      proc.kill()
      let exit: ExitInfo = { exitCode: null, signal: null }
      if (!(outcome instanceof Error)) exit = await proc.exited
      await new Promise((resolve) => setImmediate(resolve)) // let stderr's last chunk arrive
      const received = outcome instanceof Error || outcome === 'timeout' ? '' : printable(outcome.received)
      let reason: string
      if (outcome instanceof Error) reason = `cannot start ${command}: ${outcome.message}`
      else if (outcome === 'timeout') reason = `${command} did not answer within ${timeoutMs / 1000} seconds`
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
    if (traceGateway !== null) traceGateway(`${gatewayId} started ${command} (pid ${String(proc.pid)})`)
    // a socket server started the process: chdir and env can only be
    // applied now, from inside (as execnet applies them for every transport).
    // On a SLURM node the environment came with srun's, but the directory
    // is the node's to make
    const late = spec.transport === 'socket'
    const chdir = late || spec.transport === 'slurm' ? spec.chdir ?? null : null
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

  /**
   * The SLURM job a slurm= worker runs in (its id, step and node), as the
   * node reported it when it connected back; undefined for other
   * transports and for data=stdio.
   */
  get slurmJob (): SlurmJob | undefined {
    return this.transport.job
  }

  /** The worker's process id. */
  get pid (): number | undefined {
    return this.transport.pid
  }

  /** Where the gateway's lifecycle is: 'open', 'closing', 'broken', 'failed' or 'closed' (see lib/lifecycle.ts). */
  get phase (): GatewayState['phase'] {
    return this.state.phase
  }

  /** True once the worker has ended and everything it sent was routed ('exit' was emitted). */
  get gone (): boolean {
    return isFinal(this.state)
  }

  /** True while frames can still arrive from the worker. */
  get hasReceiver (): boolean {
    const state = this.state
    return state.phase === 'open' || (state.phase === 'closing' && !state.byWorker)
  }

  /** The gateway's error once it ended abnormally (a protocol error, a worker that died), else null. */
  get failure (): GatewayClosedError | null {
    return this.state.phase === 'failed' ? this.state.error : null
  }

  override toString (): string {
    return `<Gateway id=${JSON.stringify(this.id)} ${this.hasReceiver ? 'receive-live' : 'not-receiving'}, ${this.channels.size} active channels>`
  }

  // ---- execnet's API ----

  /**
   * Run Python source in the worker with a `channel` global connected to the
   * returned channel. The source is dedented, as execnet does. With kwargs,
   * the function named by options.call (or the one `def f(channel, ...)` in
   * the source) is then called as f(channel, **kwargs). An exception in it
   * closes the channel with a RemoteError.
   *
   * @example
   * ```ts
   * const ch = gw.remoteExec(`
   *     def scale(channel, values, factor):
   *         channel.send([v * factor for v in values])
   * `, { values: [1, 2, 3], factor: 10 })
   * console.log(await ch.receive())  // [ 10, 20, 30 ]
   *
   * gw.remoteExec({ path: 'job.py' })  // a module file, as remote_exec(module)
   * ```
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
    let payload: Buffer[]
    try {
      payload = this.encode(tuple(text, filename, call, args))
    } catch (err) {
      throw execDumpError(err)
    }
    const channel = this.newChannel()
    this.sendFrame(MessageCode.CHANNEL_EXEC, channel.id, payload)
    return channel
  }

  /**
   * Call an importable function and give what it returns:
   * `await gw.call('statistics:mean', [1, 2, 3, 4])` is 2.5. The target is
   * 'module:name' ('os.path:join', 'pkg.mod:Class.method'). None returns
   * null; a generator is drained into an array; a Python exception rejects
   * with its RemoteError. For keyword arguments, timeouts and AbortSignals
   * use `gw.function(target).invoke(args, kwargs, options)`.
   */
  async call<R = unknown> (target: string, ...args: unknown[]): Promise<R> {
    return await remoteFunction<R>(this, target).invoke(args)
  }

  /**
   * A Python function in this worker, as an async function: from source
   * (its one top-level def, or options.name; the rest of the source runs
   * once with it, so imports and helpers may sit beside it) or
   * 'module:name'. The definition is sent once, with the first call.
   * Calls run one after another in a call server of their own (one
   * remoteExec, so a thread of the worker); calls made in the same tick
   * travel in one message. See RemoteFunction for what comes back.
   *
   * @example
   * ```ts
   * const twice = gw.function(`
   *     def twice(x, scale=1):
   *         return x * 2 * scale
   * `)
   * await twice(21)                                          // 42
   * await twice.invoke([21], { scale: 10 }, { timeout: 5 })  // 420, or TimeoutError after 5 s
   * ```
   */
  function<R = unknown> (source: string, options: FunctionOptions = {}): RemoteFunction<R> {
    return remoteFunction<R>(this, source, options)
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
    this.transition({ type: 'exit' })
  }

  /**
   * exit(), then wait for the worker to end; after `timeout` seconds
   * (default 10) it is killed. Resolves with how it ended.
   */
  async terminate (timeout = 10): Promise<ExitInfo> {
    this.exit()
    this.hold(1)
    try {
      if (!isFinal(this.state)) {
        let timer: NodeJS.Timeout | undefined
        const killed = new Promise<void>((resolve) => {
          timer = setTimeout(() => { this.kill(); resolve() }, Math.max(0, timeout * 1000))
        })
        await Promise.race([this.ended, killed])
        clearTimeout(timer)
      }
      const info = await this.ended
      // what the worker printed last is still in its stderr pipe: it must
      // reach process.stderr before the program goes on (and maybe exits);
      // a grandchild holding the pipe open must not hold us, hence the bound
      if (this.forwardsStderr) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([this.stderrEnded, new Promise((resolve) => { timer = setTimeout(resolve, 1000) })])
        clearTimeout(timer)
      }
      return info
    } finally {
      this.hold(-1)
    }
  }

  /** Kill the worker now (SIGKILL; a socket worker's connection is destroyed). */
  kill (): void {
    if (!isFinal(this.state)) this.transport.kill()
  }

  /** Resolves with how the worker ended, once it is gone and all it sent was routed. Keeps Node alive meanwhile. */
  async waitExit (): Promise<ExitInfo> {
    this.hold(1)
    try {
      return await this.ended
    } finally {
      this.hold(-1)
    }
  }

  // ---- ChannelHost: what channels call ----

  /** @internal */
  encode (value: unknown): Buffer[] {
    return this.encoder.encodeChunks(value, null)
  }

  /** @internal Why nothing more can be sent, or null while frames can go out (or, on a broken pipe, until the gateway ends). */
  get sendError (): Error | null {
    const state = this.state
    if (this.awaitingVerdict) return null
    switch (state.phase) {
      case 'open':
      case 'broken':
        return null
      case 'failed':
        return state.error
      case 'closing':
        return new GatewayClosedError(`gateway ${this.id} is closed`)
      case 'closed':
        return new GatewayClosedError(`gateway ${this.id} is closed`, state.exit)
    }
  }

  /**
   * The pipe broke, or the worker ended its output unasked: it most likely
   * died, and how is known once it is gone. Until then sends wait, so their
   * error can say it (a bare "is closed" says nothing).
   */
  private get awaitingVerdict (): boolean {
    const state = this.state
    return state.phase === 'broken' || (state.phase === 'closing' && state.byWorker && !state.requested)
  }

  /** @internal */
  sendFrame (code: number, channelId: number, payload: Buffer[]): boolean {
    // a broken pipe: the caller waits (whenWritable) for the gateway's end
    // and then gets its error; nothing is reported as sent that was not
    if (this.awaitingVerdict || this.frames.writableEnded || this.frames.destroyed) return false
    if (traceFrames !== null) traceFrames(`${this.id} -> ${messageCodeName(code)} channel=${channelId} size=${payload.reduce((n, c) => n + c.length, 0)}`)
    const more = this.frames.write({ code, channelId, payload })
    // whenWritable() waits from here until 'drain'
    if (!more) this.needDrain = true
    return more
  }

  /** @internal */
  whenWritable (callback: () => void): void {
    if (isFinal(this.state)) callback()
    else if (this.awaitingVerdict || this.frames.destroyed || this.needDrain) this.drainWaiters.push(callback)
    else callback()
  }

  /** @internal */
  forget (channel: Channel): void {
    if (this.channels.get(channel.id) === channel) this.channels.delete(channel.id)
    this.interestChanged(channel)
  }

  /** @internal */
  interestChanged (channel: Channel): void {
    if (channel.wantsInput && !channel.destroyed) this.interested.add(channel)
    else this.interested.delete(channel)
    this.updateRef()
  }

  // ---- routing ----

  private channelFor (id: number): Channel {
    let channel = this.channels.get(id)
    if (channel === undefined) {
      channel = new Channel(this satisfies ChannelHost, id)
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
          if (channel !== undefined) {
            // before the channel hands it to consumers, who mark it read
            watchUnread(channel, this, channelId, error)
            channel.remoteClosed(error)
          } else {
            reportUnread(this, channelId, error)
          }
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
      // channels catch their consumers' errors: what reaches here is the worker's
      this.transition({ type: 'protocol', error: err as Error })
    }
  }

  // ---- ending ----

  private checkOpen (): void {
    const error = this.sendError
    if (error !== null) throw error
  }

  /** Move the lifecycle on (lib/lifecycle.ts decides) and do what the change asks. */
  private transition (event: GatewayEvent): void {
    const before = this.state
    const after = next(before, event, this.id)
    if (after === before) return
    this.state = after
    if (traceGateway !== null) traceGateway(`${this.id} ${before.phase} -> ${after.phase} on ${event.type}${after.phase === 'failed' ? ` (${after.error.message})` : ''}`)
    switch (after.phase) {
      case 'closing':
        if (event.type === 'exit') {
          if (!this.frames.writableEnded) {
            this.sendFrame(MessageCode.GATEWAY_TERMINATE, 0, [])
            this.frames.end()
          }
        } else if (after.byWorker) {
          // the worker closed its end unasked: it is exiting or died; one
          // that lingers after closing the protocol is of no use
          if (!this.frames.writableEnded) this.frames.end()
          this.killAfter(EXIT_GRACE_MS)
        }
        break
      case 'broken':
        this.killAfter(BROKEN_GRACE_MS)
        break
      case 'failed':
        if (before.phase !== 'failed') {
          this.kill()
          this.frames.destroy()
          this.closeChannels()
        }
        break
      case 'open':
      case 'closed':
        break
    }
    const exit = after.phase === 'closed' || after.phase === 'failed' ? after.exit : null
    if (exit !== null) this.finish(exit)
    this.emit('phase', after.phase)
    this.updateRef()
  }

  /** The worker is gone: settle every channel and waiter. */
  private finish (exit: ExitInfo): void {
    if (traceGateway !== null) traceGateway(`${this.id} ended: ${describeExit(exit)}${this.failure !== null ? ` (${this.failure.message})` : ''}`)
    this.closeChannels()
    this.flushDrainWaiters()
    this.interested.clear()
    this.resolveEnded(exit)
    this.emit('exit', exit)
  }

  /** Kill the worker unless it is gone within `ms`. */
  private killAfter (ms: number): void {
    const timer = setTimeout(() => { this.kill() }, ms)
    timer.unref()
    void this.ended.then(() => { clearTimeout(timer) })
  }

  private closeChannels (): void {
    const failure = this.failure
    for (const channel of [...this.channels.values()]) channel.remoteClosed(failure, failure === null)
  }

  private flushDrainWaiters (): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  private hold (change: 1 | -1): void {
    this.waiting += change
    this.updateRef()
  }

  /**
   * Node stays alive for a gateway only while someone waits for it: a
   * receive(), a stream consumer, a callback, waitExit() or terminate(), or
   * the gateway is on its way out. An idle open gateway never keeps a
   * finished program from exiting; its worker then sees end of input and
   * exits.
   */
  private updateRef (): void {
    const want = !isFinal(this.state) && (this.interested.size > 0 || this.waiting > 0 || this.state.phase !== 'open')
    if (want === this.refHeld) return
    this.refHeld = want
    this.transport.setRef(want)
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

function startTimeoutMs (seconds: number | undefined): number {
  if (seconds === undefined) return 60_000
  if (typeof seconds !== 'number' || !(seconds > 0) || !Number.isFinite(seconds)) {
    throw new OptionError(`startTimeout must be a number of seconds > 0, not ${String(seconds)}`)
  }
  return seconds * 1000
}

function keepAliveOf (seconds: number | undefined): number {
  if (seconds === undefined) return DEFAULT_KEEPALIVE
  // ssh's ServerAliveInterval takes whole seconds
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) {
    throw new OptionError(`keepAlive must be a whole number of seconds >= 0, not ${String(seconds)}`)
  }
  return seconds
}

function spinOf (spin: number | undefined): number {
  if (spin === undefined) return DEFAULT_SPIN
  if (typeof spin !== 'number' || !Number.isFinite(spin) || spin < 0 || spin > MAX_SPIN) {
    throw new OptionError(`spin must be a number of microseconds from 0 to ${MAX_SPIN}, not ${String(spin)}`)
  }
  return spin
}

/** What each item of the CHANNEL_EXEC tuple (source, filename, call, kwargs) is to remoteExec's caller. */
const EXEC_ITEMS: ReadonlyArray<[string, string]> = [['value[0]', 'source'], ['value[1]', 'options.filename'], ['value[2]', 'options.call'], ['value[3]', 'kwargs']]

/** A DumpError from remoteExec's payload names the argument given (`kwargs.p`), not the tuple item it travels in (`value[3].p`). */
function execDumpError (err: unknown): unknown {
  if (!(err instanceof DumpError)) return err
  const item = EXEC_ITEMS.find(([prefix]) => err.path.startsWith(prefix))
  return item === undefined ? err : new DumpError(err.reason, item[1] + err.path.slice(item[0].length))
}

function asRecord (value: unknown): Record<string, unknown> {
  if (value instanceof Map) return Object.fromEntries(value) as Record<string, unknown>
  if (value !== null && typeof value === 'object') return value as Record<string, unknown>
  throw new DataFormatError(`expected a dict from the worker, got ${typeof value}`, 0)
}
