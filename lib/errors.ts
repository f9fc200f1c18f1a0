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
