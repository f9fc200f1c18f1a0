/**
 * The contract every transport meets, and the one place that picks a
 * transport for a spec. A transport starts a worker (a process, a
 * connection, a relayed child) and hands the gateway three byte streams and
 * one promise of its end; the gateway knows nothing else about it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import type { ExitInfo } from '../errors.js'
import type { Spec } from '../spec.js'
import { popenCommand } from './popen.js'
import type { InstallHost } from './socket.js'
import type { ViaHost } from './via.js'
import type { SlurmJob } from './slurm.js'

/** A started worker, whatever carries its bytes. */
export interface Transport {
  /** Bytes to the worker (its stdin). */
  readonly input: Writable
  /** Bytes from the worker (its stdout). */
  readonly output: Readable
  /** What the worker prints on stderr; an ended stream where nothing comes back (a socket). */
  readonly stderr: Readable
  /** What was started, for messages. */
  readonly command: readonly string[]
  /** The worker's process id where this side knows one. */
  readonly pid: number | undefined
  /**
   * Resolves once, with how the worker ended: its exit status, or for a
   * connection how it closed (SIGKILL when this side killed it). Resolves
   * too when it could not be started. Never rejects.
   */
  readonly exited: Promise<ExitInfo>
  /** Resolves with the error when the worker could not be started at all (no such program); else never. */
  readonly spawnError: Promise<Error>
  /** End the worker now (SIGKILL, or the connection destroyed). Idempotent. */
  kill: () => void
  /** Whether the worker's handles hold Node's event loop open. */
  setRef: (held: boolean) => void
  /** The SLURM job it runs in (slurm=, once the node has connected back). */
  readonly job?: SlurmJob | undefined
}

/** What openTransport needs beside the spec. */
export interface TransportOptions {
  /** The gateway a via= spec goes through. */
  via?: ViaHost | undefined
  /** The gateway a socket//installvia= spec starts its server through. */
  installVia?: InstallHost | undefined
  /** The socket server's secret. */
  secret?: string | undefined
  /** Milliseconds a connection and its handshake may take (socket, via socket); the user's startTimeout, converted. */
  startTimeoutMs?: number | undefined
  /** The gateway's id (slurm: the job's name). */
  gatewayId?: string | undefined
  /** ssh's ServerAliveInterval in seconds (ssh, vagrant_ssh, and ssh through via=); 0: ssh's configuration decides. */
  keepAlive?: number | undefined
}

/** Start the worker a spec names, on the transport it names. */
export async function openTransport (spec: Spec, options: TransportOptions = {}): Promise<Transport> {
  // the transports a popen gateway does not use are loaded when a spec
  // names them: socket's node:net and node:crypto cost every cold start
  if (options.via !== undefined) {
    const { viaTransport } = await import('./via.js')
    return await viaTransport(spec, options.via, options.secret, options.startTimeoutMs, options.keepAlive)
  }
  switch (spec.transport) {
    case 'socket': {
      const { installedSocketTransport, socketTransport } = await import('./socket.js')
      if (options.installVia !== undefined) return await installedSocketTransport(spec, options.installVia, options.startTimeoutMs)
      return await socketTransport(spec, options.secret, options.startTimeoutMs)
    }
    case 'slurm': {
      const { slurmTransport } = await import('./slurm.js')
      return await slurmTransport(spec, options.gatewayId ?? 'gw', options.startTimeoutMs ?? 60_000)
    }
    case 'ssh': return processTransport((await import('./ssh.js')).sshCommand(spec, { keepAlive: options.keepAlive ?? 0 }))
    case 'vagrant_ssh': return processTransport((await import('./ssh.js')).vagrantCommand(spec, { keepAlive: options.keepAlive ?? 0 }))
    default: {
      const { argv, cwd, env } = popenCommand(spec)
      return processTransport(argv, { cwd, env })
    }
  }
}

/** A worker that is a local child process talking on its stdio (popen, ssh). */
export function processTransport (argv: readonly string[], options: { cwd?: string | undefined, env?: NodeJS.ProcessEnv } = {}): Transport {
  const [program, ...args] = argv as [string, ...string[]]
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env: options.env, windowsHide: true })
  const { stdin, stdout, stderr } = child
  if (stdin === null || stdout === null || stderr === null) throw new Error('spawn gave no stdio pipes')
  // 'error' can come again (a kill() refused): one listener for good, or Node throws it
  const spawnError = new Promise<Error>((resolve) => { child.on('error', resolve) })
  return {
    input: stdin,
    output: stdout,
    stderr,
    command: argv,
    get pid () { return child.pid },
    exited: exitOf(child),
    spawnError,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') },
    setRef: (held) => {
      for (const handle of [stdin, stdout, stderr] as unknown as Array<{ ref?: () => void, unref?: () => void }>) {
        if (held) handle.ref?.()
        else handle.unref?.()
      }
      if (held) child.ref()
      else child.unref()
    }
  }
}

/** A child's end: its exit, or its failure to start (which has no exit). */
function exitOf (child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ exitCode: child.exitCode, signal: child.signalCode })
      return
    }
    child.once('exit', (exitCode, signal) => { resolve({ exitCode, signal }) })
    child.on('error', () => { if (child.pid === undefined) resolve({ exitCode: null, signal: null }) })
  })
}
