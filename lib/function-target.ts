/** Which Python function a call means: a source's one top-level def, or 'module:name'. */
import { OptionError } from './errors.js'
import { dedent } from './source.js'

/**
 * Options naming the function in a source, for gw.function() and pool.function().
 * @category Calls and pools
 */
export interface FunctionOptions {
  /** The function to take from the source, when it defines several at the top level. */
  name?: string
  /** The file name remote tracebacks show for the source (default '<remote function>'). */
  filename?: string
}

/** @internal A function as the call server defines it; `key` tells two definitions apart. */
export type FunctionTarget =
  | { readonly kind: 'source', readonly key: string, readonly source: string, readonly name: string, readonly filename: string | null }
  | { readonly kind: 'import', readonly key: string, readonly target: string, readonly name: string }

/** 'package.module:attr.path': no whitespace, so no function source can look like it. */
const IMPORT_TARGET = /^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/

/** @internal Parse what gw.function()/pool.function() were given. */
export function functionTarget (what: string, options: FunctionOptions = {}): FunctionTarget {
  if (typeof what !== 'string') throw new OptionError('a function is Python source with one top-level def, or "module:name"')
  if (IMPORT_TARGET.test(what)) {
    const name = what.slice(what.lastIndexOf(':') + 1).split('.').pop() as string
    return { kind: 'import', key: `i:${what}`, target: what, name }
  }
  const source = dedent(what)
  const names = [...source.matchAll(/^(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(/gm)].map((m) => m[1] as string)
  let name = options.name
  if (name === undefined) {
    if (names.length !== 1) {
      throw new OptionError(names.length === 0
        ? 'the function source defines no top-level function (def name(...):), and is not "module:name"'
        : `the function source defines several top-level functions (${names.join(', ')}): pass options.name`)
    }
    name = names[0] as string
  }
  const filename = options.filename ?? null
  return { kind: 'source', key: `d:${name}:${filename ?? ''}:${source}`, source, name, filename }
}
