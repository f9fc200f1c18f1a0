/**
 * EXECNET_DEBUG, as in execnet: "2" (or "stderr") logs to stderr, any other
 * value to a file, $TMPDIR/execnet-debug-PID. Every frame (direction, code,
 * channel, size) and the gateways' lifecycle; the worker, which inherits the
 * variable, logs its side to its stderr.
 */
import { appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type Trace = (message: string) => void

function make (): Trace | null {
  const setting = process.env.EXECNET_DEBUG
  if (setting === undefined || setting === '' || setting === '0') return null
  const prefix = `[master ${process.pid}]`
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

/** The trace function, or null when EXECNET_DEBUG is not set (checked once). */
export const trace: Trace | null = make()
