/**
 * The public vectors written by the real execnet (../shared/vectors, beside
 * the repository in CI; EXECNET_VECTORS overrides the location).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { repoRoot, underCI } from './interpreters.js'
import type { Node } from './tree.js'
import type { Test } from 'tap'

// beside the checkout (../shared/vectors), or the workplace's shared folder
// when the checkout lives elsewhere (a CI clone in /tmp)
export const vectorsDir = resolve(process.env.EXECNET_VECTORS ??
  [join(repoRoot, '..', 'shared', 'vectors'), '/work/shared/vectors'].find((d) => existsSync(join(d, 'README.md'))) ??
  join(repoRoot, '..', 'shared', 'vectors'))

export interface VectorCase {
  name: string
  producer: string
  hex?: string
  value?: Node
  repr?: string
  opcodes?: string
  generated?: string
  sha256?: string
  length?: number | string
  head_hex?: string
  tail_hex?: string
  error?: string
}

export interface MalformedCase {
  name: string
  hex: string
  expect: 'DataFormatError' | { value: Node }
  execnet_2_1_2: string
}

/**
 * True when the vectors are there. Otherwise a failure under CI (where
 * shared/ sits beside the clone) or a skip naming the missing directory.
 */
export function vectorsFound (t: Test): boolean {
  if (existsSync(join(vectorsDir, 'README.md'))) return true
  if (underCI()) t.fail(`vectors missing at ${vectorsDir}`)
  else t.skip(`vectors not found at ${vectorsDir}`, () => {})
  return false
}

function jsonl<T> (file: string): T[] {
  return readFileSync(join(vectorsDir, file), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T)
}

/** Every producer's cases, keyed by file name. */
export function producerFiles (): Array<{ file: string, cases: VectorCase[] }> {
  return readdirSync(vectorsDir)
    .filter((f) => f.endsWith('.jsonl') && f !== 'malformed.jsonl')
    .sort()
    .map((file) => ({ file, cases: jsonl<VectorCase>(file) }))
}

export function malformedCases (): MalformedCase[] {
  return jsonl<MalformedCase>('malformed.jsonl')
}

/** xorshift32_bytes(n, seed) from the vectors README. */
export function xorshift32Bytes (n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}
