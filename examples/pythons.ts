// Where the examples find their interpreters. The seed page writes
// `python=python2.7` and `python=jython`; here each can be overridden by an
// environment variable, and pyenv's 2.7 is found when python2.7 is not on PATH.
import { existsSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

function works (python: string, code = 'pass'): boolean {
  try {
    execFileSync(python, ['-c', code], { stdio: 'ignore', timeout: 30000 })
    return true
  } catch {
    return false
  }
}

function pyenvVersion (prefix: string): string | null {
  const root = process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv')
  const dir = join(root, 'versions')
  if (!existsSync(dir)) return null
  const match = readdirSync(dir).filter((v) => v.startsWith(prefix)).sort().pop()
  return match === undefined ? null : join(dir, match, 'bin', 'python')
}

/** A Python 2.7: $PYTHON27, python2.7 on PATH, or pyenv's 2.7.x. */
export function python27 (): string | null {
  for (const p of [process.env.PYTHON27, 'python2.7', pyenvVersion('2.7')]) {
    if (p !== undefined && p !== null && works(p, 'import sys; assert sys.version_info[:2] == (2, 7)')) return p
  }
  return null
}

/** A Python with numpy: $NUMPY_PYTHON, python3, or the venv .ci/run makes. */
export function numpyPython (): string | null {
  for (const p of [process.env.NUMPY_PYTHON, 'python3', join(process.cwd(), '.venv', 'bin', 'python')]) {
    if (p !== undefined && works(p, 'import numpy')) return p
  }
  return null
}

/** Jython: $JYTHON or jython on PATH. */
export function jython (): string | null {
  const p = process.env.JYTHON ?? 'jython'
  return works(p) ? p : null
}

/** PyPy3: $PYPY3 or pypy3 on PATH. */
export function pypy3 (): string | null {
  const p = process.env.PYPY3 ?? 'pypy3'
  return works(p) ? p : null
}
