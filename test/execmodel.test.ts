// execnet's execution models, as remote code and the master see them, on
// our worker and on execnet's own: channel.gateway.execmodel is an object
// with execnet's ExecModel API, and with execmodel=main_thread_only a second
// execution that cannot have the main thread within a second is refused
// with execnet's error instead of waiting behind the first.
import t from 'tap'
import { Gateway, RemoteError } from '../index.js'
import { require } from './helpers/interpreters.js'
import { execnetTargets, oursTargets, specFor } from './helpers/targets.js'

const DEADLOCK_TEXT = 'concurrent remote_exec would cause deadlock for main_thread_only execmodel'

// execnet 1.9 has no main_thread_only (its get_execmodel refuses the name)
const withMainThreadOnly = [...oursTargets(), ...execnetTargets().filter((x) => !x.label.includes('1.9'))]

for (const target of withMainThreadOnly) {
  t.test(`${target.label}: main_thread_only refuses a second execution while one runs`, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp, target.worker, 'execmodel=main_thread_only'), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    const first = gw.remoteExec([
      'import threading',
      'channel.send((threading.current_thread().name, channel.gateway.execmodel.backend))',
      'channel.send(channel.receive())'
    ].join('\n'))
    t.same(await first.receive({ timeout: 30 }), ['MainThread', 'main_thread_only'], 'the first runs in the main thread')
    const started = Date.now()
    const second = gw.remoteExec('channel.send("ran")')
    const error = await second.receive({ timeout: 30 }).then(() => null, (err: unknown) => err)
    t.type(error, RemoteError, 'the second is refused, not queued')
    t.equal((error as RemoteError).formatted, DEADLOCK_TEXT, "with execnet's text")
    t.ok(Date.now() - started >= 900, `after waiting about a second for the main thread (${Date.now() - started} ms)`)
    // the first is unharmed, and the main thread serves again once free
    await first.send('still here')
    t.equal(await first.receive({ timeout: 30 }), 'still here')
    await first.waitClose(30)
    const third = gw.remoteExec('import threading\nchannel.send(threading.current_thread().name)')
    t.equal(await third.receive({ timeout: 30 }), 'MainThread', 'a later one runs in the main thread')
    await third.waitClose(30)
  })
}

// the ExecModel methods and attributes remote code uses, each exercised
const USES = `
import threading
try:
    from thread import get_ident
except ImportError:
    from _thread import get_ident
em = channel.gateway.execmodel
lock = em.Lock()
lock.acquire()
lock.acquire()  # execnet's Lock is reentrant
lock.release()
lock.release()
rlock = em.RLock()
rlock.acquire()
rlock.release()
event = em.Event()
seen = []
def run(x):
    seen.append((x, em.get_ident()))
    event.set()
em.start(run, (7,))
event.wait(10)
em.sleep(0.001)
q = em.queue.Queue()
q.put(1)
channel.send([em.backend, repr(em), seen[0][0], seen[0][1] != em.get_ident(), em.get_ident() == get_ident(),
              q.get(), hasattr(em.subprocess, 'Popen'), hasattr(em.socket, 'socket'), event.is_set()])
`

for (const target of [...oursTargets(), ...execnetTargets()]) {
  t.test(`${target.label}: channel.gateway.execmodel is an ExecModel`, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp, target.worker), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    t.same(await gw.remoteExec(USES).receive({ timeout: 30 }),
      ['thread', "<ExecModel 'thread'>", 7, true, true, 1, true, true, true],
      'backend, repr, start, get_ident, sleep, queue, subprocess, socket, Lock, RLock, Event')
  })
}
