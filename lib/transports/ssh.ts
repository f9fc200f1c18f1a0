/**
 * The ssh transport: the system's OpenSSH client starts the interpreter on
 * the remote host, and the session's stdin/stdout carry the protocol, as
 * execnet's ssh gateways do (vagrant_ssh= too, the client started by
 * `vagrant ssh`). The worker is sent over that stdin at
 * bootstrap, so nothing needs installing remotely; what it prints comes
 * back on ssh's stderr.
 */
import type { Spec } from '../spec.js'
import { splitCommand } from '../spec.js'
import { workerDebugEnv } from '../debug.js'
import { workerArgv } from './popen.js'

/** One word for a POSIX shell, quoted when it needs it. */
export function shellQuote (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`
}

/**
 * The local command: ssh, its options, the destination, and the remote
 * command line (env and chdir applied there by the remote shell).
 */
export function sshCommand (spec: Spec): string[] {
  // -C: compression, as execnet's ssh_args passes it. BatchMode: a
  // password or host-key prompt has no terminal to answer it and would
  // hang; ssh fails at once instead, with its own message
  const args = ['-C', '-o', 'BatchMode=yes']
  if (spec.sshConfig !== undefined) args.push('-F', spec.sshConfig)
  // as in execnet, the value may carry ssh options: ssh=-p 2222 host
  args.push(...splitCommand(spec.ssh ?? '', spec.text, `ssh=${spec.ssh ?? ''}`))
  return ['ssh', ...args, remoteCommand(spec)]
}

/**
 * The local command of a vagrant_ssh=NAME spec, as execnet's
 * vagrant_ssh_args: `vagrant ssh NAME -- -C [-F config] COMMAND`, vagrant
 * running ssh with its own options for the machine and then these (our
 * BatchMode=yes too, for the reason sshCommand gives).
 */
export function vagrantCommand (spec: Spec): string[] {
  const args = ['-C', '-o', 'BatchMode=yes']
  if (spec.sshConfig !== undefined) args.push('-F', spec.sshConfig)
  return ['vagrant', 'ssh', spec.vagrantSsh ?? '', '--', ...args, remoteCommand(spec)]
}

/** The command line the remote shell runs: the interpreter with the bootstrap line, in env and chdir. */
function remoteCommand (spec: Spec): string {
  let command = workerArgv(spec).map(shellQuote).join(' ')
  const env = { ...workerDebugEnv(), ...spec.env }
  const assignments = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`))
  if (assignments.length > 0) command = `env ${assignments.join(' ')} ${command}`
  if (spec.chdir !== undefined) command = `mkdir -p ${shellQuote(spec.chdir)} && cd ${shellQuote(spec.chdir)} && exec ${command}`
  else command = `exec ${command}`
  return command
}
