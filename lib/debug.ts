/**
 * Tracing, switched on by the environment, checked once:
 *
 * - EXECNET_DEBUG, as in execnet: "2" (or "stderr") logs to stderr, any
 *   other value to a file, $TMPDIR/execnet-debug-PID; everything.
 * - DEBUG, as the `debug` package reads it (comma- or space-separated
 *   patterns, `*` wildcards, `-` to exclude): the namespaces
 *   `execnet:frames` (every frame: direction, code, channel, size),
 *   `execnet:gateway` (start, exit, end of each gateway) and
 *   `execnet:worker` (the worker's own trace, on its stderr), to stderr.
 *
 * The worker logs its side to its stderr when EXECNET_DEBUG is set in its
 * environment (inherited, or set by workerDebugEnv for execnet:worker).
 */
import { appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type Trace = (message: string) => void

export type Namespace = 'execnet:frames' | 'execnet:gateway' | 'execnet:worker'

const prefix = `[master ${process.pid}]`

/** Whether the DEBUG patterns enable `namespace`. */
export function debugEnabled (namespace: string, patterns = process.env.DEBUG ?? ''): boolean {
  let enabled = false
  for (const raw of patterns.split(/[\s,]+/)) {
    if (raw === '') continue
    const exclude = raw.startsWith('-')
    const pattern = exclude ? raw.slice(1) : raw
    const regex = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*?')}$`)
    if (!regex.test(namespace)) continue
    if (exclude) return false
    enabled = true
  }
  return enabled
}

function execnetDebug (): Trace | null {
  const setting = process.env.EXECNET_DEBUG
  if (setting === undefined || setting === '' || setting === '0') return null
  if (setting === '2' || setting === 'stderr') return (message) => { process.stderr.write(`${prefix} ${message}\n`) }
  const file = join(tmpdir(), `execnet-debug-${process.pid}`)
  return (message) => {
    try {
      appendFileSync(file, `${prefix} ${message}\n`)
    } catch {
      // tracing never breaks the program it traces
    }
  }
}

function make (namespace: Namespace): Trace | null {
  const all = execnetDebug()
  if (all !== null) return all
  if (!debugEnabled(namespace)) return null
  return (message) => { process.stderr.write(`${namespace} ${prefix} ${message}\n`) }
}

/** Frames in and out, or null when not traced. */
export const traceFrames: Trace | null = make('execnet:frames')

/** Gateways starting, exiting and ending, or null when not traced. */
export const traceGateway: Trace | null = make('execnet:gateway')

/** What to add to a worker's environment so that it traces too (DEBUG=execnet:worker). */
export function workerDebugEnv (): Record<string, string> {
  if (process.env.EXECNET_DEBUG === undefined && debugEnabled('execnet:worker')) return { EXECNET_DEBUG: '2' }
  return {}
}
