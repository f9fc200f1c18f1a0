/** Peak resident memory (VmHWM), for the tests that bound it. Linux only. */
import { readFileSync, writeFileSync } from 'node:fs'

export const MiB = 1024 * 1024

/** This process's peak RSS in bytes since start or the last resetPeak(). */
export function peakRss (pid: number | 'self' = 'self'): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))
  if (match === null) throw new Error('no VmHWM in /proc/self/status')
  return Number(match[1]) * 1024
}

/** Start measuring the peak from now (the kernel's clear_refs '5'). */
export function resetPeak (): void {
  writeFileSync('/proc/self/clear_refs', '5')
}

/** Python source defining hwm() (peak RSS in bytes) and reset_peak(), for remote code. */
export const PYTHON_MEMORY = `
import re
def hwm():
    with open('/proc/self/status') as f:
        return int(re.search(r'VmHWM:\\s+(\\d+) kB', f.read()).group(1)) * 1024
def reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
`
