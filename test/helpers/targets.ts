/**
 * The workers the gateway suites run against: our worker on every
 * interpreter found, and the real execnet started as execnet starts it when
 * it is installed remotely (2.x in the venv, 1.9 on CPython 2.7).
 */
import { cpython, CPYTHON_MINORS, jython, pypy3, venvPython, withExecnet19, type Interpreter } from './interpreters.js'

export interface Target {
  /** Test title, e.g. 'ours on cpython-3.12.1'. */
  label: string
  /** What is missing when find() gives null. */
  what: string
  find: () => Interpreter | null
  worker: 'ours' | 'execnet'
  /** Over ssh to the test sshd (test/helpers/sshd.ts) instead of popen. */
  ssh?: boolean
  /** Through our socket server (test/helpers/socketserver.ts) running this interpreter. */
  socket?: boolean
}

/** Where an ssh target connects: the test sshd's host alias and ssh_config. */
export interface SshTo { host: string, config: string }

/** The spec that starts `interp` with the given worker. */
export function specFor (interp: Interpreter, worker: 'ours' | 'execnet' = 'ours', extra = '', ssh?: SshTo): string {
  const transport = ssh === undefined ? ['popen'] : [`ssh=${ssh.host}`, `ssh_config=${ssh.config}`]
  const parts = [...transport, `python=${interp.argv.map(quote).join(' ')}`]
  for (const [k, v] of Object.entries(interp.env)) parts.push(`env:${k}=${v}`)
  if (worker === 'execnet') parts.push('worker=execnet')
  if (extra !== '') parts.push(extra)
  return parts.join('//')
}

function quote (word: string): string {
  return /^[\w./+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`
}

export function oursTargets (): Target[] {
  return [
    ...CPYTHON_MINORS.map((m): Target => ({ label: `ours on CPython ${m}`, what: `CPython ${m} (pyenv)`, find: () => cpython(m), worker: 'ours' })),
    { label: 'ours on PyPy3', what: 'pypy3 (Debian package)', find: pypy3, worker: 'ours' },
    { label: 'ours on Jython', what: 'jython (Debian package)', find: jython, worker: 'ours' }
  ]
}

export function execnetTargets (): Target[] {
  return [
    { label: 'real execnet 2.x worker (venv)', what: 'the venv with execnet 2.x (.ci/run makes it)', find: venvPython, worker: 'execnet' },
    { label: 'real execnet 1.9 worker on CPython 2.7', what: 'CPython 2.7 with Debian python3-execnet', find: () => withExecnet19(cpython('2.7')), worker: 'execnet' }
  ]
}

/** Our worker over ssh (the test sshd on 127.0.0.1), CPython 3 and 2.7. */
export function sshTargets (): Target[] {
  return ['3.12', '2.7'].map((m): Target => ({ label: `ours over ssh on CPython ${m}`, what: `CPython ${m} (pyenv)`, find: () => cpython(m), worker: 'ours', ssh: true }))
}

/** Our worker through our socket server (started with the interpreter itself), CPython 3 and 2.7. */
export function socketTargets (): Target[] {
  return ['3.12', '2.7'].map((m): Target => ({ label: `ours through the socket server on CPython ${m}`, what: `CPython ${m} (pyenv)`, find: () => cpython(m), worker: 'ours', socket: true }))
}
