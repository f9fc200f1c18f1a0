// EXECNET_DEBUG, as in execnet: every frame and the lifecycle, from the
// master and from the worker (Python 3 and 2.7), to stderr with "2", to a
// file otherwise; nothing without it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpython, repoRoot, require } from './helpers/interpreters.js'
import { debugEnabled } from '../lib/debug.js'

t.test('DEBUG patterns as the debug package reads them', async (t) => {
  t.ok(debugEnabled('execnet:frames', 'execnet:*'))
  t.ok(debugEnabled('execnet:frames', 'other,execnet:frames'))
  t.ok(debugEnabled('execnet:gateway', '*'))
  t.notOk(debugEnabled('execnet:frames', 'execnet:*,-execnet:frames'))
  t.notOk(debugEnabled('execnet:frames', 'execnet:gateway execnet:worker'))
  t.notOk(debugEnabled('execnet:frames', ''))
  t.notOk(debugEnabled('execnet:frames', 'execnet'))
})

t.test('DEBUG namespaces: frames, gateway, worker, each on its own', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const python = interp.argv[0] as string
  const frames = run(python, undefined, 'execnet:frames')
  t.equal(frames.stdout, '1\n')
  t.match(frames.stderr, /^execnet:frames \[master \d+\] gw0 <- CHANNEL_DATA channel=1 size=6$/m)
  t.notMatch(frames.stderr, /started|\[worker/, 'only frames')
  const rest = run(python, undefined, 'execnet:*,-execnet:frames')
  t.match(rest.stderr, /^execnet:gateway \[master \d+\] gw0 started /m)
  t.match(rest.stderr, /^execnet:gateway \[master \d+\] gw0 ended: exited with code 0$/m)
  t.match(rest.stderr, /\[worker \d+\] <- CHANNEL_EXEC channel=1/, 'the worker traces with execnet:worker')
  t.notMatch(rest.stderr, /execnet:frames/)
  t.equal(run(python, undefined, 'other:*').stderr, '', 'nothing for other namespaces')
})

function run (python: string, debug: string | undefined, namespaces?: string): { stdout: string, stderr: string, pid: number | undefined } {
  const env = { ...process.env }
  delete env.EXECNET_DEBUG
  delete env.DEBUG
  if (debug !== undefined) env.EXECNET_DEBUG = debug
  if (namespaces !== undefined) env.DEBUG = namespaces
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/debug-run.ts'), `popen//python=${python}`], { cwd: repoRoot, env, timeout: 60000 })
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), pid: r.pid }
}

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const python = interp.argv[0] as string
    const on = run(python, '2')
    t.equal(on.stdout, '1\n', 'the program itself is unchanged')
    for (const pattern of [
      /\[master \d+\] gw0 started .* \(pid \d+\)/,
      /\[master \d+\] gw0 -> CHANNEL_EXEC channel=1 size=\d+/,
      /\[master \d+\] gw0 <- CHANNEL_DATA channel=1 size=6/,
      /\[master \d+\] gw0 -> GATEWAY_TERMINATE channel=0 size=0/,
      /\[master \d+\] gw0 ended: exited with code 0/,
      /\[worker \d+\] <- CHANNEL_EXEC channel=1/,
      /\[worker \d+\] -> CHANNEL_DATA channel=1 size=6/
    ]) t.match(on.stderr, pattern)
    const off = run(python, undefined)
    t.equal(off.stderr, '', 'silent without EXECNET_DEBUG')
    const file = run(python, '1')
    t.notMatch(file.stderr, /\[master/, 'EXECNET_DEBUG=1 keeps the master quiet on stderr')
    const log = join(tmpdir(), `execnet-debug-${String(file.pid)}`)
    t.ok(existsSync(log), `the master's trace is in ${log}`)
    if (existsSync(log)) {
      t.match(readFileSync(log, 'utf8'), /gw0 <- CHANNEL_DATA channel=1 size=6/)
      rmSync(log)
    }
  })
}
