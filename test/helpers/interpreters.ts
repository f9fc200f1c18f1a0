/**
 * Finds the Python interpreters and real-execnet installations the tests run
 * against. Nothing is assumed to be on PATH under a version name: pyenv's
 * versions are found by directory, Debian's pypy3/jython by command.
 *
 * On a developer machine a missing one is a skip that names it; under CI
 * (CI=true, where .ci/run installs everything) it is a failure.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface Interpreter {
  /** A short name used in test titles, e.g. 'cpython-2.7.18'. */
  name: string
  /** The command and arguments that start it. */
  argv: string[]
  /** Extra environment (PYTHONPATH to find execnet). */
  env: Record<string, string>
  major: 2 | 3
}

function run (cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }).trim()
  } catch {
    return null
  }
}

function pyenvRoot (): string | null {
  if (process.env.PYENV_ROOT !== undefined && existsSync(process.env.PYENV_ROOT)) return process.env.PYENV_ROOT
  const root = run('pyenv', ['root'])
  if (root !== null && existsSync(root)) return root
  const home = join(process.env.HOME ?? '/root', '.pyenv')
  return existsSync(home) ? home : null
}

/** CPython X.Y from pyenv (e.g. '2.7', '3.13'), or null. */
export function cpython (minor: string): Interpreter | null {
  const root = pyenvRoot()
  if (root === null) return null
  const versions = existsSync(join(root, 'versions')) ? readdirSync(join(root, 'versions')) : []
  const match = versions.filter((v) => v === minor || v.startsWith(minor + '.')).sort().pop()
  if (match === undefined) return null
  const exe = join(root, 'versions', match, 'bin', 'python')
  if (!existsSync(exe)) return null
  return { name: `cpython-${match}`, argv: [exe], env: {}, major: minor.startsWith('2') ? 2 : 3 }
}

/** The CPython minors the suites cover. */
export const CPYTHON_MINORS = ['2.7', '3.6', '3.7', '3.8', '3.9', '3.10', '3.11', '3.12', '3.13']

export function pypy3 (): Interpreter | null {
  return run('pypy3', ['-c', 'print(1)']) === '1' ? { name: 'pypy3', argv: ['pypy3'], env: {}, major: 3 } : null
}

export function jython (): Interpreter | null {
  return run('jython', ['-c', 'print(1)']) === '1' ? { name: 'jython', argv: ['jython'], env: {}, major: 2 } : null
}

/**
 * A directory holding only Debian's execnet 1.9 package, for PYTHONPATH: the
 * whole of dist-packages would drag Python 3 modules into Python 2.
 */
export function execnet19Path (): string | null {
  const pkg = '/usr/lib/python3/dist-packages/execnet'
  if (!existsSync(join(pkg, '__init__.py'))) return null
  const dir = join(tmpdir(), 'execnet-ts-execnet19')
  mkdirSync(dir, { recursive: true })
  if (!existsSync(join(dir, 'execnet'))) {
    try {
      symlinkSync(pkg, join(dir, 'execnet'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  return dir
}

/** The venv with execnet 2.x and numpy that .ci/run makes (EXECNET_TEST_VENV or ./.venv). */
export function venvPython (): Interpreter | null {
  const venv = process.env.EXECNET_TEST_VENV ?? join(repoRoot, '.venv')
  const exe = join(venv, 'bin', 'python')
  if (!existsSync(exe)) return null
  if (run(exe, ['-c', 'import execnet; print(execnet.__version__)']) === null) return null
  return { name: 'venv-execnet2', argv: [exe], env: {}, major: 3 }
}

/** An interpreter with execnet 1.9 importable (Debian's package on PYTHONPATH). */
export function withExecnet19 (interp: Interpreter | null): Interpreter | null {
  const path = execnet19Path()
  if (interp === null || path === null) return null
  const key = interp.name === 'jython' ? 'JYTHONPATH' : 'PYTHONPATH'
  return { ...interp, name: `${interp.name}+execnet-1.9`, env: { ...interp.env, [key]: path } }
}

/** Under CI (.ci/run installs every interpreter and finds the vectors) nothing a test needs may be missing. */
export function underCI (): boolean {
  return process.env.CI === 'true' || process.env.CI === '1'
}

/**
 * Use `found` or account for its absence: under CI a failure naming it, on a
 * developer machine a skip naming it. Returns null when the test should stop.
 */
export function require<T> (t: Test, found: T | null, what: string): T | null {
  if (found !== null) return found
  if (underCI()) {
    t.fail(`${what} is missing, and CI makes every interpreter mandatory (.ci/run installs it)`)
  } else {
    t.skip(`${what} not found on this machine`, () => {})
  }
  return null
}
