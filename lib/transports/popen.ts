/**
 * The popen transport: a local interpreter whose stdin/stdout carry the
 * protocol, started as execnet starts one (`python -u -c <bootstrap line>`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import type { Spec } from '../spec.js'
import { splitCommand } from '../spec.js'
import { BOOTSTRAP_LINE } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'

/**
 * What the gateway needs of the worker's process: a ChildProcess, or for a
 * socket worker the connection standing in for it.
 */
export interface WorkerHandle {
  readonly pid?: number | undefined
  readonly exitCode: number | null
  readonly signalCode: NodeJS.Signals | null
  kill: (signal?: NodeJS.Signals) => boolean
  ref: () => void
  unref: () => void
  once: ((event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void) => unknown) & ((event: 'error', listener: (err: Error) => void) => unknown)
}

/** A started worker process with its three pipes. */
export interface WorkerProcess {
  readonly child: WorkerHandle | ChildProcess
  readonly stdin: Writable
  readonly stdout: Readable
  readonly stderr: Readable
  /** The command line, for error messages. */
  readonly command: readonly string[]
}

/** The interpreter command for a spec: python= or the default python3. */
export function interpreterCommand (spec: Spec): string[] {
  return spec.python === undefined ? ['python3'] : splitCommand(spec.python, spec.text, `python=${spec.python}`)
}

export function popen (spec: Spec): WorkerProcess {
  const [program, ...rest] = interpreterCommand(spec) as [string, ...string[]]
  // -u: unbuffered binary stdio on Python 2 and Jython, where the worker
  // cannot reopen the descriptors itself
  const args = [...rest, '-u']
  if (spec.dontWriteBytecode) args.push('-B')
  args.push('-c', BOOTSTRAP_LINE)
  // chdir and env apply at spawn, so they already hold while the
  // interpreter starts (PYTHONPATH, a relative python path...)
  if (spec.chdir !== undefined) mkdirSync(spec.chdir, { recursive: true })
  const child = spawn(program, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: spec.chdir,
    env: { ...process.env, ...workerDebugEnv(), ...spec.env },
    windowsHide: true
  })
  const { stdin, stdout, stderr } = child
  if (stdin === null || stdout === null || stderr === null) throw new Error('spawn gave no stdio pipes')
  return { child, stdin, stdout, stderr, command: [program, ...args] }
}
