/**
 * execnet's XSpec: `key1=value1//key2//env:NAME=value...`. Unlike execnet,
 * which accepts any key and ignores the ones it does not know, an unknown
 * key, a duplicate or a bad value is a SpecError naming the part at fault.
 */
import { SpecError } from './errors.js'

/**
 * Which remote side the master bootstraps.
 * @category Gateways
 */
export type WorkerKind = 'ours' | 'execnet'

/**
 * A parsed XSpec (see parseSpec).
 * @category Gateways
 */
export interface Spec {
  /** The spec text as given. */
  readonly text: string
  /** The transport: exactly one of them. */
  readonly transport: 'popen' | 'ssh' | 'socket' | 'vagrant_ssh' | 'slurm'
  /** ssh=[user@]host */
  readonly ssh?: string
  /** vagrant_ssh=NAME: the Vagrant machine reached with `vagrant ssh NAME`. */
  readonly vagrantSsh?: string
  /** socket=host:port */
  readonly socket?: string
  /**
   * slurm=OPTIONS: the worker is a SLURM job step, started by srun with
   * these options (`slurm=--partition=debug --time=10`); a bare `slurm`
   * takes the cluster's defaults.
   */
  readonly slurm?: string
  /**
   * listen=HOST[:PORT] (with slurm): where the master listens for the node
   * to connect back, and the address the node is told. Default: every
   * address, announced as this machine's hostname.
   */
  readonly listen?: string
  /**
   * data=tcp|stdio (with slurm): the protocol on a connection from the node
   * back to the master (tcp, the default), or on srun's own stdio (slower;
   * for nodes that cannot reach the master).
   */
  readonly data?: 'tcp' | 'stdio'
  /** ssh_config=path, passed to ssh -F (with ssh= or vagrant_ssh=) */
  readonly sshConfig?: string
  /** python=command: the interpreter, split as a shell would (`python=python3 -X dev`). */
  readonly python?: string
  /** chdir=path: the worker's working directory, created if missing. */
  readonly chdir?: string
  /** nice=n: the worker's niceness increment. */
  readonly nice?: number
  /** env:NAME=value settings for the worker's environment. */
  readonly env: Readonly<Record<string, string>>
  /** dont_write_bytecode: start the interpreter with -B. */
  readonly dontWriteBytecode: boolean
  /** id=name: the gateway's id in its group. */
  readonly id?: string
  /** execmodel=thread|main_thread_only */
  readonly execmodel?: 'thread' | 'main_thread_only'
  /** via=gwid: reach the worker through another gateway of the group. */
  readonly via?: string
  /**
   * installvia=gwid (with socket): start our socket server through that
   * gateway of the group, then connect to it, as execnet's
   * `socket//installvia=`. socket=HOST:PORT is then where it listens
   * there (default 127.0.0.1, a free port).
   */
  readonly installvia?: string
  /**
   * worker=execnet: start the real execnet installed on the remote side (as
   * execnet does for a plain `popen`) instead of sending our worker. Our
   * extension; the default is `ours`.
   */
  readonly worker: WorkerKind
  /**
   * server=execnet (with socket=): the server is execnet's own
   * socketserver.py, which runs whatever a client sends, with no secret.
   * Our extension, an explicit opt-in; the default is `ours`.
   */
  readonly server: 'ours' | 'execnet'
  /** The spec text, as execnet's str(XSpec): `String(spec)` and template strings give it. */
  toString: () => string
}

/** What parseSpec builds, before toString is added. */
type SpecFields = Omit<Spec, 'toString'>

/**
 * The Spec of these fields, with a toString giving its text. toString is not
 * enumerable, so that t.same, JSON.stringify and util.inspect see only the
 * fields, as before; a spread copy loses it (withId makes a new one).
 */
function specOf (fields: SpecFields): Spec {
  return Object.defineProperty({ ...fields }, 'toString', {
    value: function (this: SpecFields): string { return this.text },
    enumerable: false,
    writable: true,
    configurable: true
  }) as Spec
}

const FLAG_KEYS = new Set(['popen', 'dont_write_bytecode'])
const VALUE_KEYS = new Set(['ssh', 'vagrant_ssh', 'socket', 'slurm', 'listen', 'data', 'ssh_config', 'python', 'chdir', 'nice', 'id', 'execmodel', 'via', 'installvia', 'worker', 'server'])
const KNOWN = 'popen, ssh=, vagrant_ssh=, socket=, slurm=, listen=, data=, python=, chdir=, nice=, env:NAME=, dont_write_bytecode, id=, execmodel=, via=, installvia=, ssh_config=, worker=, server='

/**
 * Parse an XSpec string; throws SpecError naming the bad part.
 * @category Gateways
 */
export function parseSpec (text: string): Spec {
  if (typeof text !== 'string') throw new SpecError('a spec must be a string', String(text), '')
  if (text === '') throw new SpecError('empty spec', text, '')
  const seen = new Set<string>()
  const values = new Map<string, string | true>()
  const env: Record<string, string> = {}
  for (const part of text.split('//')) {
    const eq = part.indexOf('=')
    const key = eq === -1 ? part : part.slice(0, eq)
    const value: string | true = eq === -1 ? true : part.slice(eq + 1)
    if (key === '') throw new SpecError('empty key', text, part)
    if (seen.has(key)) throw new SpecError(`duplicate key ${JSON.stringify(key)}`, text, part)
    seen.add(key)
    if (key.startsWith('env:')) {
      const name = key.slice(4)
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SpecError(`bad environment variable name ${JSON.stringify(name)}`, text, part)
      if (value === true) throw new SpecError(`${key} needs a value (${key}=...)`, text, part)
      env[name] = value
    } else if (FLAG_KEYS.has(key)) {
      if (value !== true) throw new SpecError(`${key} takes no value`, text, part)
      values.set(key, true)
    } else if (key === 'slurm' && value === true) {
      // a bare slurm: the cluster's default partition and limits
      values.set(key, '')
    } else if (key === 'socket' && value === true) {
      // socket//installvia=ID: the server it starts says where (checked below)
      values.set(key, true)
    } else if (VALUE_KEYS.has(key)) {
      if (value === true || value === '') throw new SpecError(`${key} needs a value (${key}=...)`, text, part)
      values.set(key, value)
    } else {
      throw new SpecError(`unknown key ${JSON.stringify(key)}; known keys: ${KNOWN}`, text, part)
    }
  }
  const partOf = (key: string): string => text.split('//').find((p) => p === key || p.startsWith(key + '=')) ?? key
  const str = (key: string): string | undefined => {
    const v = values.get(key)
    return typeof v === 'string' ? v : undefined
  }

  const transports = (['popen', 'ssh', 'vagrant_ssh', 'socket', 'slurm'] as const).filter((k) => values.has(k))
  if (transports.length === 0) throw new SpecError('no transport: one of popen, ssh=host, vagrant_ssh=NAME, socket=host:port, slurm=OPTIONS is needed', text, '')
  if (transports.length > 1) throw new SpecError(`more than one transport: ${transports.join(', ')}`, text, partOf(transports[1] as string))
  const transport = transports[0] as Spec['transport']

  let nice: number | undefined
  const niceText = str('nice')
  if (niceText !== undefined) {
    if (!/^-?\d+$/.test(niceText)) throw new SpecError('nice must be an integer', text, partOf('nice'))
    nice = Number(niceText)
  }
  const execmodel = str('execmodel')
  if (execmodel !== undefined && execmodel !== 'thread' && execmodel !== 'main_thread_only') {
    throw new SpecError(`execmodel must be thread or main_thread_only (eventlet and gevent are not supported), not ${JSON.stringify(execmodel)}`, text, partOf('execmodel'))
  }
  const worker = str('worker') ?? 'ours'
  if (worker !== 'ours' && worker !== 'execnet') throw new SpecError(`worker must be ours or execnet, not ${JSON.stringify(worker)}`, text, partOf('worker'))
  const socket = str('socket')
  if (socket !== undefined && !/^[^:]*:\d+$/.test(socket)) throw new SpecError('socket must be host:port', text, partOf('socket'))
  const installvia = str('installvia')
  if (installvia !== undefined && transport !== 'socket') throw new SpecError('installvia= needs socket (socket//installvia=ID)', text, partOf('installvia'))
  if (values.get('socket') === true && installvia === undefined) throw new SpecError('socket needs host:port, or installvia=ID to start a server through a gateway', text, partOf('socket'))
  if (installvia !== undefined && str('via') !== undefined) throw new SpecError('installvia= and via= do not go together: via= relays through a gateway, installvia= starts a server through it and connects', text, partOf('installvia'))
  if (installvia !== undefined && str('server') !== undefined) throw new SpecError('server= does not apply to installvia=: it starts our own socket server', text, partOf('server'))
  const server = str('server') ?? 'ours'
  if (server !== 'ours' && server !== 'execnet') throw new SpecError(`server must be ours or execnet, not ${JSON.stringify(server)}`, text, partOf('server'))
  if (str('server') !== undefined && transport !== 'socket') throw new SpecError('server= needs socket=', text, partOf('server'))
  if (str('ssh_config') !== undefined && transport !== 'ssh' && transport !== 'vagrant_ssh') throw new SpecError('ssh_config needs ssh= or vagrant_ssh=', text, partOf('ssh_config'))
  const vagrantSsh = str('vagrant_ssh')
  // one argument of `vagrant ssh`, as execnet passes it (unsplit): a space
  // would make it two machine names, a leading - an option of vagrant's
  if (vagrantSsh !== undefined && !/^[^\s-]\S*$/.test(vagrantSsh)) throw new SpecError('vagrant_ssh must be one Vagrant machine name (no spaces, not starting with -)', text, partOf('vagrant_ssh'))
  if (transport === 'socket') {
    // the server's interpreter runs the worker, started by the server
    for (const key of ['python', 'dont_write_bytecode']) {
      if (values.has(key)) throw new SpecError(`${key} does not apply to socket=: the server starts the worker with its own interpreter (socketserver --python)`, text, partOf(key))
    }
  }
  const python = str('python')
  if (python !== undefined) splitCommand(python, text, partOf('python'))
  const slurm = str('slurm')
  if (slurm !== undefined && slurm !== '') splitCommand(slurm, text, partOf('slurm'))
  const listen = str('listen')
  if (listen !== undefined && transport !== 'slurm') throw new SpecError('listen= needs slurm (where the master listens for the node)', text, partOf('listen'))
  if (listen !== undefined && !/^[^\s:]+(:\d+)?$/.test(listen)) throw new SpecError('listen must be HOST or HOST:PORT', text, partOf('listen'))
  const data = str('data')
  if (data !== undefined && transport !== 'slurm') throw new SpecError('data= needs slurm', text, partOf('data'))
  if (data !== undefined && data !== 'tcp' && data !== 'stdio') throw new SpecError(`data must be tcp or stdio, not ${JSON.stringify(data)}`, text, partOf('data'))
  if (listen !== undefined && data === 'stdio') throw new SpecError('listen= does not apply to data=stdio: nothing connects back', text, partOf('listen'))

  return specOf({
    text,
    transport,
    ssh: str('ssh'),
    vagrantSsh,
    socket,
    slurm,
    listen,
    data: data as Spec['data'],
    sshConfig: str('ssh_config'),
    python,
    chdir: str('chdir'),
    nice,
    env,
    dontWriteBytecode: values.has('dont_write_bytecode'),
    id: str('id'),
    execmodel,
    via: str('via'),
    installvia,
    worker,
    server
  })
}

/**
 * Specs with execnet's (and pytest-xdist's) `N*` multiplier written out:
 * `['4*slurm=-p debug', 'popen']` is four slurm specs and one popen. A
 * multiplied spec cannot name an id (it would be N gateways with one id).
 */
export function expandSpecs (specs: readonly string[]): string[] {
  return specs.flatMap((text) => {
    const m = /^(\d+)\*(.*)$/s.exec(text)
    if (m === null) return [text]
    const count = Number(m[1])
    const spec = m[2] as string
    if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new SpecError(`the multiplier must be 1..10000, not ${m[1] as string}`, text, `${m[1] as string}*`)
    if (parseSpec(spec).id !== undefined) throw new SpecError(`${count}* with id= would make ${count} gateways with one id`, text, spec.split('//').find((p) => p.startsWith('id=')) ?? spec)
    return Array.from({ length: count }, () => spec)
  })
}

/** The spec with another id, for a group that names its gateways. */
export function withId (spec: Spec, id: string): Spec {
  const parts = spec.text.split('//').filter((p) => !p.startsWith('id='))
  return specOf({ ...spec, id, text: [...parts, `id=${id}`].join('//') })
}

/**
 * Split a command line as a POSIX shell would for words: quotes and
 * backslashes, no expansion (execnet uses shlex.split).
 * @category Gateways
 */
export function splitCommand (command: string, spec = command, part = command): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let i = 0
  while (i < command.length) {
    const c = command[i] as string
    if (c === "'") {
      const close = command.indexOf("'", i + 1)
      if (close === -1) throw new SpecError('unterminated single quote', spec, part)
      word += command.slice(i + 1, close)
      inWord = true
      i = close + 1
    } else if (c === '"') {
      i++
      for (;;) {
        if (i >= command.length) throw new SpecError('unterminated double quote', spec, part)
        const d = command[i] as string
        if (d === '"') break
        if (d === '\\' && i + 1 < command.length && '"\\$`'.includes(command[i + 1] as string)) {
          word += command[i + 1] as string
          i += 2
        } else {
          word += d
          i++
        }
      }
      inWord = true
      i++
    } else if (c === '\\') {
      if (i + 1 >= command.length) throw new SpecError('trailing backslash', spec, part)
      word += command[i + 1] as string
      inWord = true
      i += 2
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word)
      word = ''
      inWord = false
      i++
    } else {
      word += c
      inWord = true
      i++
    }
  }
  if (inWord) words.push(word)
  if (words.length === 0) throw new SpecError('empty command', spec, part)
  return words
}
