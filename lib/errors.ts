/**
 * The library's named errors. Every malformed input becomes one error type
 * (DataFormatError) carrying where it went wrong, instead of the mix of
 * struct.error, EOFError, TypeError... that Python's execnet raises.
 */

/**
 * Base class of every error this library raises on purpose.
 * @category Errors
 */
export class ExecnetError extends Error {
  override name = 'ExecnetError'
}

/**
 * Bytes that are not a valid execnet dump or frame: unknown opcode, wrong
 * version byte, truncated input, invalid UTF-8, an impossible structure.
 * `offset` is the absolute byte offset (in the whole stream for the
 * Transform streams) of the opcode or field at fault.
 * @category Errors
 */
export class DataFormatError extends ExecnetError {
  override name = 'DataFormatError'
  readonly offset: number
  readonly reason: string

  constructor (reason: string, offset: number) {
    super(`${reason} (at byte offset ${offset})`)
    this.reason = reason
    this.offset = offset
  }
}

/**
 * A JavaScript value that has no execnet encoding. `path` names where it sits
 * inside the value given to dumps, e.g. `value[3].get('x')`.
 * @category Errors
 */
export class DumpError extends ExecnetError {
  override name = 'DumpError'
  readonly path: string
  readonly reason: string

  constructor (reason: string, path: string) {
    super(`cannot dump ${path}: ${reason}`)
    this.reason = reason
    this.path = path
  }
}

/**
 * An option or argument that is out of range or of the wrong type.
 * @category Errors
 */
export class OptionError extends ExecnetError {
  override name = 'OptionError'
}

/**
 * A gateway spec that cannot be used; `part` is the offending `key=value`.
 * @category Errors
 */
export class SpecError extends ExecnetError {
  override name = 'SpecError'
  readonly spec: string
  readonly part: string

  constructor (reason: string, spec: string, part: string) {
    super(`bad spec ${JSON.stringify(spec)}: ${reason}${part === '' ? '' : ` (at ${JSON.stringify(part)})`}`)
    this.spec = spec
    this.part = part
  }
}

/**
 * Remote code raised: `formatted` is the remote traceback text, as execnet's
 * RemoteError carries it, and `type` the class of the exception it raised.
 * @category Errors
 */
export class RemoteError extends ExecnetError {
  override name = 'RemoteError'
  readonly formatted: string
  /**
   * The class of the exception the remote code raised, as its traceback
   * prints it: 'ValueError', 'SystemExit'; on Python 3, qualified by its
   * module when that is not builtins (`mymod.MyError`, and
   * `__channelexec__.MyError` for a class defined in remoteExec's source);
   * on Python 2 and Jython the bare class name (`MyError`); a Java
   * exception on Jython its Java class (`java.lang.NumberFormatException`).
   * With chained exceptions ("During handling of the above exception...")
   * it is the last one, the one raised; for an exception group, the
   * group's class. 'KeyboardInterrupt' for execnet's fixed text
   * "keyboard-interrupted" (an interrupted execution). Undefined when the
   * text holds no traceback (a text the remote side gave to
   * channel.close(text)) or its exception line does not start with a
   * class name.
   */
  readonly type: string | undefined

  constructor (formatted: string) {
    super(formatted)
    this.formatted = formatted
    this.type = exceptionType(formatted)
  }
}

/** What execnet's workers (and ours) send for an execution a KeyboardInterrupt ended. */
const INTERRUPT_TEXT = 'keyboard-interrupted'
/** Python's header of a traceback, and of an exception group's (3.11+: drawn in a margin of "  | "). */
const HEADER = 'Traceback (most recent call last):'
const GROUP_HEADER = '  + Exception Group Traceback (most recent call last):'
const GROUP_MARGIN = '  |'
/** What Python prints between the tracebacks of chained exceptions (3.x), each between blank lines. */
const CHAINED = new Set([
  'During handling of the above exception, another exception occurred:',
  'The above exception was the direct cause of the following exception:'
])
/** The start of an exception line: a dotted class name ($ for Java's inner classes), then ':' and the message, or nothing. */
const EXCEPTION_LINE = /^([\p{ID_Start}_$][\p{ID_Continue}$]*(?:\.[\p{ID_Start}_$][\p{ID_Continue}$]*)*)(?::(?: |$)|$)/u

/**
 * The raised exception's class in a traceback text (see RemoteError.type).
 * Read from the front, not from the last line: messages and exception
 * notes (3.11+) run over several lines after the exception line, and a
 * message may itself hold a traceback (a RemoteError re-raised remotely).
 * A traceback's exception line is its first line that is not indented
 * (frames, source lines, carets, SyntaxError's excerpt and Jython's Java
 * frames all are); the next traceback of a chain starts only after a chain
 * sentence between blank lines.
 */
function exceptionType (formatted: string): string | undefined {
  if (formatted === INTERRUPT_TEXT) return 'KeyboardInterrupt'
  const lines = formatted.split(/\r?\n/)
  let type: string | undefined
  let at = lines.findIndex(isHeader)
  while (at >= 0) {
    const [found, end] = exceptionLine(lines, at)
    type = found === undefined ? undefined : EXCEPTION_LINE.exec(found)?.[1]
    at = -1
    for (let i = end; i + 3 < lines.length; i++) {
      if (lines[i] === '' && CHAINED.has(lines[i + 1] as string) && lines[i + 2] === '' && isHeader(lines[i + 3] as string)) {
        at = i + 3
        break
      }
    }
  }
  return type
}

function isHeader (line: string): boolean {
  return line === HEADER || line === GROUP_HEADER
}

/** The exception line of the traceback whose header is at `header`, and the index after it. */
function exceptionLine (lines: readonly string[], header: number): [string | undefined, number] {
  const group = lines[header] === GROUP_HEADER
  for (let i = header + 1; i < lines.length; i++) {
    let line = lines[i] as string
    if (group) {
      if (!line.startsWith(GROUP_MARGIN)) return [undefined, i]
      line = line.slice(GROUP_MARGIN.length + 1)
    }
    if (!line.startsWith(' ') && !line.startsWith('\t')) return [line, i + 1]
  }
  return [undefined, lines.length]
}

/**
 * No item, close or exit within the time given.
 * @category Errors
 */
export class TimeoutError extends ExecnetError {
  override name = 'TimeoutError'
}

/**
 * The channel is closed and holds no more items: execnet's EOFError.
 * @category Errors
 */
export class ChannelClosedError extends ExecnetError {
  override name = 'ChannelClosedError'
}

/**
 * How a worker process ended, when it has.
 * @category Gateways
 */
export interface ExitInfo {
  exitCode: number | null
  signal: NodeJS.Signals | null
}

/**
 * The gateway's connection ended before the channel did: the worker exited,
 * was killed, or broke the protocol. Names the exit code or signal.
 * @category Errors
 */
export class GatewayClosedError extends ExecnetError {
  override name = 'GatewayClosedError'
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null

  constructor (reason: string, exit: ExitInfo = { exitCode: null, signal: null }) {
    super(reason)
    this.exitCode = exit.exitCode
    this.signal = exit.signal
  }
}

/**
 * The worker could not be started: the interpreter is missing, crashed at
 * start, or printed something other than execnet's ready byte. Carries what
 * it wrote to stderr and the first bytes it wrote to stdout.
 * @category Errors
 */
export class BootstrapError extends ExecnetError {
  override name = 'BootstrapError'
  readonly stderr: string
  readonly received: string
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null

  constructor (reason: string, details: { stderr: string, received: string } & ExitInfo) {
    const tail = details.stderr.trim() === '' ? '' : `\n--- its stderr ---\n${details.stderr.trimEnd()}`
    super(reason + tail)
    this.stderr = details.stderr
    this.received = details.received
    this.exitCode = details.exitCode
    this.signal = details.signal
  }
}

/**
 * A slurm= worker could not be started: SLURM refused the job (no such
 * partition, a request no node can meet), the allocation was still pending
 * at startTimeout (it is cancelled), or the node never connected back.
 * `slurmMessage` is what srun said (its `srun: error:` lines).
 * @category Errors
 */
export class SlurmError extends BootstrapError {
  override name = 'SlurmError'
  readonly slurmMessage: string

  constructor (reason: string, stderr: string, exit: ExitInfo = { exitCode: null, signal: null }) {
    const said = stderr.split('\n').filter((l) => /^srun: (error|fatal)/.test(l)).map((l) => l.replace(/^srun: (error|fatal): /, '')).join('; ')
    super(said === '' ? reason : `${reason}: ${said}`, { stderr, received: '', ...exit })
    this.slurmMessage = said
  }
}

/**
 * One input of a pool's map, imap or transform failed: `cause` is why (the
 * RemoteError of the Python exception, a TimeoutError, the GatewayClosedError
 * of a worker lost more often than the retry limit allows, a DumpError),
 * `index` is the input's position and `input` the input itself.
 * @category Errors
 */
export class ItemError extends ExecnetError {
  override name = 'ItemError'
  readonly index: number
  readonly input: unknown
  override readonly cause: Error

  constructor (index: number, input: unknown, cause: Error) {
    super(`input #${index}: ${cause.message}`)
    this.index = index
    this.input = input
    this.cause = cause
  }
}
