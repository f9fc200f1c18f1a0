/** Preparing Python source for remoteExec. */
import { OptionError } from './errors.js'

/**
 * Python's textwrap.dedent, which execnet applies to source strings, so an
 * indented template literal runs: the longest whitespace prefix common to
 * all non-blank lines goes, and whitespace-only lines become empty.
 * @category Gateways
 */
export function dedent (source: string): string {
  const lines = source.split('\n')
  let margin: string | null = null
  for (const line of lines) {
    if (line.trim() === '') continue
    const indent = /^[ \t]*/.exec(line)?.[0] ?? ''
    if (margin === null) {
      margin = indent
    } else {
      let i = 0
      while (i < margin.length && i < indent.length && margin[i] === indent[i]) i++
      margin = margin.slice(0, i)
    }
  }
  const cut = margin?.length ?? 0
  return lines.map((line) => line.trim() === '' ? '' : line.slice(cut)).join('\n')
}

/**
 * The function that remoteExec calls with kwargs when none is named: the
 * one top-level `def name(channel, ...)` in the source.
 */
export function findCallable (source: string): string {
  const names = [...source.matchAll(/^def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*channel\b/gm)].map((m) => m[1] as string)
  if (names.length === 1) return names[0] as string
  throw new OptionError(names.length === 0
    ? 'remoteExec with kwargs needs a function to call: define one top-level `def name(channel, ...)` or pass options.call'
    : `remoteExec with kwargs: several functions take a channel (${names.join(', ')}); pass options.call`)
}
