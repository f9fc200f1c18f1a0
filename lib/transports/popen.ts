/**
 * The popen transport: a local interpreter whose stdin/stdout carry the
 * protocol, started as execnet starts one (`python -u -c <bootstrap line>`).
 */
import { mkdirSync } from 'node:fs'
import type { Spec } from '../spec.js'
import { splitCommand } from '../spec.js'
import { BOOTSTRAP_LINE } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'

/** The interpreter command for a spec: python= or the default python3. */
export function interpreterCommand (spec: Spec): string[] {
  return spec.python === undefined ? ['python3'] : splitCommand(spec.python, spec.text, `python=${spec.python}`)
}

/**
 * The interpreter with the bootstrap line, wherever it runs (here, over
 * ssh, relayed). -u: unbuffered binary stdio on Python 2 and Jython, where
 * the worker cannot reopen the descriptors itself.
 */
export function workerArgv (spec: Spec): string[] {
  const argv = [...interpreterCommand(spec), '-u']
  if (spec.dontWriteBytecode) argv.push('-B')
  argv.push('-c', BOOTSTRAP_LINE)
  return argv
}

/** What a local worker is started with: its command line, directory and environment. */
export function popenCommand (spec: Spec): { argv: string[], cwd: string | undefined, env: NodeJS.ProcessEnv } {
  // chdir and env apply at spawn, so they already hold while the
  // interpreter starts (PYTHONPATH, a relative python path...)
  if (spec.chdir !== undefined) mkdirSync(spec.chdir, { recursive: true })
  return { argv: workerArgv(spec), cwd: spec.chdir, env: { ...process.env, ...workerDebugEnv(), ...spec.env } }
}
