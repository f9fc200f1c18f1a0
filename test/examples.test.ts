// The seed page's gateway examples, as files under examples/, print what the
// page (and execnet 1.9, measured) prints.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { cpython, jython, repoRoot, require, venvPython } from './helpers/interpreters.js'

function run (script: string, python: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', script), python], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
}

t.test('numpy: a remote array grows with the values sent', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with numpy')
  if (venv === null) return
  t.equal(run('numpy.ts', venv.argv[0] as string), 'array([1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])\n')
})

t.test('string coercion against Python 2.7, as execnet 1.9 answers', async (t) => {
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  if (py27 === null) return
  const lines = run('reconfigure.ts', py27.argv[0] as string).trimEnd().split('\n').map((l) => l.slice(58).trim())
  t.same(lines, ['hello', 'unicode', 'str', '<Buffer 75 6e 69 63 6f 64 65>'], "the last is the bytes 'unicode'")
})

t.test('string coercion against Python 3, as execnet 2.x answers', async (t) => {
  const py3 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py3 === null) return
  const lines = run('reconfigure.ts', py3.argv[0] as string).trimEnd().split('\n').map((l) => l.slice(58).trim())
  t.same(lines, ['hello', 'str', '<Buffer 62 79 74 65 73>', 'str'])
})

t.test('Jython: a java.util.Vector iterated back', async (t) => {
  const jy = require(t, jython(), 'jython (Debian package)')
  if (jy === null) return
  t.equal(run('jython.ts', 'jython'), 'aaa\nbbb\n')
})

t.test('bulk: a file through a numpy worker and back with backpressure, and a typed array', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with numpy')
  if (venv === null) return
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'bulk.ts'), venv.argv[0] as string, '32'], { cwd: repoRoot, encoding: 'utf8', timeout: 120000, stdio: ['ignore', 'pipe', 'pipe'] })
  const [sums, product] = out.trimEnd().split('\n')
  const match = /^32 chunks, byte sum (\d+) \(expected (\d+)\)$/.exec(sums ?? '')
  t.ok(match !== null, sums ?? '')
  t.equal(match?.[1], match?.[2], 'numpy summed every byte of the file')
  t.equal(product, 'a @ a.T = [ 14, 32, 32, 77 ]')
})

t.test('pipeline: file -> decoder -> channel -> Python -> channel -> encoder -> file', async (t) => {
  for (const [label, find] of [['CPython 3.12', () => cpython('3.12')], ['CPython 2.7', () => cpython('2.7')]] as const) {
    const interp = require(t, find(), `${label} (pyenv)`)
    if (interp === null) continue
    const lines = run('pipeline.ts', interp.argv[0] as string).trimEnd().split('\n')
    t.same(lines, [`1000 records through Python ${label.slice(8)}`, 'first: Hello, Ada #0', 'last:  Hello, Ken #999'], label)
  }
})

t.test('fanout: one task on several interpreters, results as they arrive', async (t) => {
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py27 === null || py312 === null) return
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'fanout.ts'), py27.argv[0] as string, py312.argv[0] as string], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
  t.equal(out, '30 items on 2 interpreters\n  cpython 2.7: 15\n  cpython 3.12: 15\nitem 0: f5201cf555e7 | item 29: de19ec37690e\n', 'sha256 of "item 0" and "item 29", as Node computes them')
})

t.test('rsync: a tree to two interpreters, then only what changed', async (t) => {
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py27 === null || py312 === null) return
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'rsync.ts'), py27.argv[0] as string, py312.argv[0] as string], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
  t.equal(out, [
    'first: gw0: pkg/__init__.py, run.sh, setup.py | gw1: pkg/__init__.py, run.sh, setup.py (6 file callbacks)',
    'again: gw0: nothing | gw1: nothing (0 file callbacks)',
    'changed: gw0: pkg/__init__.py | gw1: pkg/__init__.py (2 file callbacks)',
    'through the copied symlink: VERSION = 2, VERSION = 2',
    ''
  ].join('\n'))
})

t.test('call: a module function, a source function with kwargs, an exception, a timeout', async (t) => {
  const py3 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py3 === null) return
  t.same(run('call.ts', py3.argv[0] as string).trimEnd().split('\n'), [
    'operator:add -> 42',
    "stats -> Map(2) { 'mean' => 2.5, 'spread' => 3 }",
    "parse -> ValueError: invalid literal for int() with base 10: 'forty-two'",
    'nap -> nap() did not return within 0.2 seconds',
    'and after it: 42'
  ])
})

t.test('pool: a CPU-bound function over 10,000 inputs on 2 workers, with progress', async (t) => {
  for (const [label, find] of [['CPython 3.12', () => cpython('3.12')], ['CPython 2.7', () => cpython('2.7')]] as const) {
    const interp = require(t, find(), `${label} (pyenv)`)
    if (interp === null) continue
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'pool.ts'), interp.argv[0] as string, '2'], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
    // 611350: the same count computed in JavaScript
    t.equal(out, '2500/10000 done\n5000/10000 done\n7500/10000 done\n10000/10000 done\n10000 inputs on 2 workers: 611350 primes counted\n', label)
  }
})
