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
 * ssh's probes of a silent host (ServerAliveCountMax): this many unanswered
 * in a row and ssh drops the connection, so the gateway fails.
 */
export const KEEPALIVE_PROBES = 3

/** What the ssh command lines take beside the spec. */
export interface SshOptions {
  /** ServerAliveInterval in seconds; 0 or absent: no -o, ssh's configuration decides. */
  keepAlive?: number
}

/**
 * The keep-alive as ssh options (on the command line, they win over
 * ssh_config's). Left out when the spec's ssh= value sets ServerAlive*
 * itself: that is the user's choice for this host.
 */
function keepAliveArgs (spec: Spec, options: SshOptions): string[] {
  const interval = options.keepAlive ?? 0
  if (interval === 0 || /serveralive/i.test(spec.ssh ?? '')) return []
  return ['-o', `ServerAliveInterval=${interval}`, '-o', `ServerAliveCountMax=${KEEPALIVE_PROBES}`]
}

/**
 * The local command: ssh, its options, the destination, and the remote
 * command line (env and chdir applied there by the remote shell).
 */
export function sshCommand (spec: Spec, options: SshOptions = {}): string[] {
  // -C: compression, as execnet's ssh_args passes it. BatchMode: a
  // password or host-key prompt has no terminal to answer it and would
  // hang; ssh fails at once instead, with its own message
  const args = ['-C', '-o', 'BatchMode=yes']
  if (spec.sshConfig !== undefined) args.push('-F', spec.sshConfig)
  // as in execnet, the value may carry ssh options: ssh=-p 2222 host
  args.push(...keepAliveArgs(spec, options))
  args.push(...splitCommand(spec.ssh ?? '', spec.text, `ssh=${spec.ssh ?? ''}`))
  return ['ssh', ...args, remoteCommand(spec)]
}

/**
 * The local command of a vagrant_ssh=NAME spec, as execnet's
 * vagrant_ssh_args: `vagrant ssh NAME -- -C [-F config] COMMAND`, vagrant
 * running ssh with its own options for the machine and then these (our
 * BatchMode=yes too, for the reason sshCommand gives).
 */
export function vagrantCommand (spec: Spec, options: SshOptions = {}): string[] {
  const args = ['-C', '-o', 'BatchMode=yes', ...keepAliveArgs(spec, options)]
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
