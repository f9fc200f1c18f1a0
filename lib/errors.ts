/**
 * The library's named errors. Every malformed input becomes one error type
 * (DataFormatError) carrying where it went wrong, instead of the mix of
 * struct.error, EOFError, TypeError... that Python's execnet raises.
 */

/** Base class of every error this library raises on purpose. */
export class ExecnetError extends Error {
  override name = 'ExecnetError'
}

/**
 * Bytes that are not a valid execnet dump or frame: unknown opcode, wrong
 * version byte, truncated input, invalid UTF-8, an impossible structure.
 * `offset` is the absolute byte offset (in the whole stream for the
 * Transform streams) of the opcode or field at fault.
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

/** An option or argument that is out of range or of the wrong type. */
export class OptionError extends ExecnetError {
  override name = 'OptionError'
}

/** A gateway spec that cannot be used; `part` is the offending `key=value`. */
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
 * RemoteError carries it.
 */
export class RemoteError extends ExecnetError {
  override name = 'RemoteError'
  readonly formatted: string

  constructor (formatted: string) {
    super(formatted)
    this.formatted = formatted
  }
}

/** No item, close or exit within the time given. */
export class TimeoutError extends ExecnetError {
  override name = 'TimeoutError'
}

/** The channel is closed and holds no more items: execnet's EOFError. */
export class ChannelClosedError extends ExecnetError {
  override name = 'ChannelClosedError'
}

/** How a worker process ended, when it has. */
export interface ExitInfo {
  exitCode: number | null
  signal: NodeJS.Signals | null
}

/**
 * The gateway's connection ended before the channel did: the worker exited,
 * was killed, or broke the protocol. Names the exit code or signal.
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
 * One input of a pool's map, imap or transform failed: `cause` is why (the
 * RemoteError of the Python exception, a TimeoutError, the GatewayClosedError
 * of a worker lost more often than the retry limit allows, a DumpError),
 * `index` is the input's position and `input` the input itself.
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
