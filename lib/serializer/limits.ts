/**
 * Every limit of the serializer in one place, with the defaults the README
 * documents. They protect a loader from input crafted to exhaust memory or
 * to build values too deep for the recursive code that will consume them.
 */
import { OptionError } from '../errors.js'

/**
 * Deepest nesting of containers that dumps writes and loads accepts (Python's own recursion limit is 1000).
 * @category Serializer
 */
export const DEFAULT_MAX_DEPTH = 1000

/**
 * Largest encoded value loads accepts, in bytes (1 GiB); execnet's 4-byte lengths allow up to 2 GiB - 1.
 * @category Serializer
 */
export const DEFAULT_MAX_VALUE_SIZE = 1024 * 1024 * 1024

export function checkDepthOption (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new OptionError(`${name} must be a positive integer, not ${String(value)}`)
  return value
}

export function checkSizeOption (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new OptionError(`${name} must be a positive integer number of bytes, not ${String(value)}`)
  return value
}
