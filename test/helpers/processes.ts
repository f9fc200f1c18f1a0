/** Process checks for the lifecycle tests and the soak: is a pid alive, which workers are ours. */
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'

export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resolves true once `pid` is gone, false if it outlives `ms`. */
export async function gone (pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (!alive(pid)) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return !alive(pid)
}

/**
 * This process's child processes, zombies included, except the esbuild
 * service that tsx keeps as a child of its own.
 */
export function children (): number[] {
  const mine: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && !readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('esbuild')) mine.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return mine
}

export function openFds (): number {
  return readdirSync('/proc/self/fd').length
}

/** Stop a server the tests started: SIGTERM, wait for its exit, remove its directory. */
export async function stopServer (server: ChildProcess, dir: string): Promise<void> {
  if (server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.kill('SIGTERM')
    await exited
  }
  rmSync(dir, { recursive: true, force: true })
}
