// What a spec asks for holds in the worker: chdir (created when missing),
// env:NAME, nice, dont_write_bytecode, execmodel=main_thread_only; and
// remoteExec of a module file, and the remote channel.makefile().
import t from 'tap'
import { realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Gateway, None, RemoteError } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { tempDir } from './helpers/tmp.js'

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const dir = join(realpathSync(tempDir(t, 'chdir')), 'made', 'here')
    const gw = await Gateway.start(specFor(interp, 'ours', `chdir=${dir}//env:EXECNET_TS_PROBE=probe value//nice=3//dont_write_bytecode`), { stderr: 'pipe' })
    t.teardown(async () => { await gw.terminate(5) })

    t.test('chdir, env, nice and -B reach the worker', async (t) => {
      const info = await gw.rinfo()
      t.equal(info.cwd, dir, 'the directory was created and entered')
      const ch = gw.remoteExec("import os, sys\nchannel.send((os.environ.get('EXECNET_TS_PROBE'), os.nice(0), bool(sys.flags.dont_write_bytecode)))")
      const [probe, nice, noBytecode] = await ch.receive() as [string, number, boolean]
      t.equal(probe, 'probe value')
      t.ok(nice >= 3, `niceness ${nice}`)
      t.equal(noBytecode, true)
      // Linux keeps a niceness per thread: two executions at once run in two
      // threads (the main one and a pool thread), and both must have it
      const nicenessNow = "import os\nchannel.receive()\nchannel.send(os.nice(0))"
      const both = [gw.remoteExec(nicenessNow), gw.remoteExec(nicenessNow)]
      for (const c of both) await c.send(None)
      t.ok((await Promise.all(both.map(async (c) => await c.receive({ timeout: 10 }) as number))).every((n) => n >= 3), 'in every thread')
    })

    t.test('a module file runs with its file name in tracebacks', async (t) => {
      const file = join(tempDir(t, 'mod'), 'remote_module.py')
      writeFileSync(file, 'def helper():\n    return 6 * 7\n\nchannel.send(helper())\nraise ValueError("from the module")\n')
      const ch = gw.remoteExec({ path: file })
      t.equal(await ch.receive(), 42)
      const err = await ch.waitClose().then(() => null, (e: unknown) => e)
      t.type(err, RemoteError)
      t.match((err as RemoteError).formatted, new RegExp(`File "${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}", line 5`))
    })

    t.test("the remote side's channel.makefile()", async (t) => {
      const ch = gw.remoteExec("f = channel.makefile('w')\nf.write('line one\\n')\nf.write('line two\\n')\nr = channel.makefile('r')\nchannel.send(r.readline())")
      t.equal(await ch.receive(), 'line one\n')
      t.equal(await ch.receive(), 'line two\n')
      await ch.send('hello\nworld\n')
      t.equal(await ch.receive(), 'hello\n')
    })
  })
}

t.test('execmodel=main_thread_only runs executions one at a time in the main thread', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp, 'ours', 'execmodel=main_thread_only'), { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(5) })
  const source = 'import threading, time\ntime.sleep(0.2)\nchannel.send(threading.current_thread().name)'
  const a = gw.remoteExec(source)
  const b = gw.remoteExec(source)
  const t0 = Date.now()
  t.same([await a.receive(), await b.receive()], ['MainThread', 'MainThread'])
  t.ok(Date.now() - t0 >= 380, 'one after the other')
  t.equal((await gw.remoteStatus()).execmodel, 'main_thread_only')
})

t.test('receive() honours an AbortSignal and a timeout, and the channel still works after', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(5) })
  const ch = gw.remoteExec('for x in channel:\n    channel.send(x)')
  const controller = new AbortController()
  const pending = ch.receive({ signal: controller.signal })
  controller.abort(new Error('stop waiting'))
  await t.rejects(pending, /stop waiting/)
  await t.rejects(ch.receive({ signal: AbortSignal.abort(new Error('already')) }), /already/)
  await t.rejects(ch.receive({ timeout: 0.05 }), { name: 'TimeoutError' })
  await t.rejects(ch.receive({ timeout: -1 }), TypeError)
  await ch.send('still here')
  t.equal(await ch.receive({ timeout: 10 }), 'still here', 'the aborted receives took nothing')
  // two receives waiting at once get the items in order
  const both = Promise.all([ch.receive(), ch.receive()])
  await ch.send(1)
  await ch.send(2)
  t.same(await both, [1, 2])
})
