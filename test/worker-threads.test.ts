// The worker's thread primitives (the threads section of lib/python/worker.py):
// on CPython 3.13 and later its own Condition and Event on _thread, which a
// worker's start-up uses instead of importing threading; elsewhere
// threading's own, imported by the main thread after the ready byte. Each interpreter runs the same probe of what the
// gateway relies on: notify() wakes one waiter, notify_all() every one, a
// timeout is reported as False, events; and on our own, that a notified
// waiter is never reported as timed out, that an interrupted wait leaves no
// waiter behind, and that the worker's code imports no threading module.
// Through a gateway on each: user code that imports threading first in a
// pool thread still finds the main thread where it is.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { CPYTHON_MINORS, cpython, jython, pypy3, repoRoot, require, type Interpreter } from './helpers/interpreters.js'
import { Gateway } from '../index.js'

const PROBE = String.raw`
import json, sys, time
before = "threading" in sys.modules  # (a site-packages .pth file may import it)
ns = {"__name__": "worker_under_test"}
path = sys.argv[1]
with open(path) as f:
    exec(compile(f.read(), path, "exec"), ns)
out = {"own": ns["_thread"] is not None, "imported_threading": not before and "threading" in sys.modules}
ns["import_late"]()  # as main() does once its ready byte is out
out["threading_late"] = not before and "threading" in sys.modules
Lock, Condition, Event, start_thread = ns["Lock"], ns["Condition"], ns["Event"], ns["start_thread"]

def waiters(cond, n, timeout=None):
    """n threads waiting on cond; the list of what each wait() returned, filled as they return."""
    results = []
    count = [0]
    def wait():
        with cond:
            count[0] += 1
            results.append(cond.wait(timeout))
    for _ in range(n):
        start_thread(wait)
    deadline = time.time() + 10
    while time.time() < deadline:
        with cond:
            if count[0] == n:
                break
        time.sleep(0.001)
    return results

def settle(results, n):
    deadline = time.time() + 10
    while len(results) < n and time.time() < deadline:
        time.sleep(0.001)
    time.sleep(0.05)  # anyone woken by mistake shows up here
    return list(results)

cond = Condition(Lock())
results = waiters(cond, 3)
with cond:
    cond.notify()
out["notify_one"] = settle(results, 1)
with cond:
    cond.notify_all()
out["notify_all"] = settle(results, 3)

cond = Condition(Lock())
with cond:
    t0 = time.time()
    out["timeout"] = cond.wait(0.05)
    out["waited"] = time.time() - t0 >= 0.04
    out["zero_timeout"] = cond.wait(0)

# a notify() that lands while a waiter's timeout runs out, many times over:
# a waiter that notify() took off the list always reports True
lost = 0
for i in range(300):
    cond = Condition(Lock())
    results = waiters(cond, 1, 0.0002 * (i % 5 + 1))
    with cond:
        taken = len(getattr(cond, "_waiters", ())) == 1
        cond.notify()
    deadline = time.time() + 10
    while not results and time.time() < deadline:
        time.sleep(0.0001)
    if taken and results != [True]:
        lost += 1
out["lost"] = lost

ev = Event()
out["event_initial"] = [ev.is_set(), ev.wait(0.01)]
results = []
def event_wait():
    results.append(ev.wait(10))
for _ in range(2):
    start_thread(event_wait)
time.sleep(0.05)
ev.set()
out["event_set"] = settle(results, 2) + [ev.is_set(), ev.wait(0)]
ev.clear()
out["event_clear"] = [ev.is_set(), ev.wait(0.01)]

# a SIGINT in the middle of a wait (how the worker interrupts its main
# thread's execution): the exception comes through, with the lock held
# again and no waiter left on the condition
if out["own"]:
    import os, signal
    cond = Condition(Lock())
    def interrupt():
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
    start_thread(interrupt)
    out["interrupted"] = False
    try:
        with cond:
            try:
                cond.wait(10)
            finally:
                out["held_after"] = not cond._lock.acquire(False)
    except KeyboardInterrupt:
        out["interrupted"] = True
    out["left_behind"] = len(cond._waiters)
# after the primitives' every use (the worker's queues are Items on them)
ns["Items"]().put(1)
out["threading_after"] = not before and "threading" in sys.modules
sys.stdout.write(json.dumps(out))
`

interface Probe {
  own: boolean
  imported_threading: boolean
  threading_late: boolean
  threading_after: boolean
  notify_one: boolean[]
  notify_all: boolean[]
  timeout: boolean
  waited: boolean
  zero_timeout: boolean
  lost: number
  event_initial: boolean[]
  event_set: boolean[]
  event_clear: boolean[]
  interrupted: boolean
  held_after: boolean
  left_behind: number
}

// ours where threading knows the main thread whoever imports it first (CPython 3.13 on)
const cases: Array<[string, () => Interpreter | null, boolean]> = [
  ...CPYTHON_MINORS.map((minor): [string, () => Interpreter | null, boolean] => [`CPython ${minor} (pyenv)`, () => cpython(minor), Number(minor.split('.')[1]) >= 13]),
  ['PyPy3', pypy3, false],
  ['Jython', jython, false]
]

for (const [what, find, own] of cases) {
  t.test(what, async (t) => {
    const interp = require(t, find(), what)
    if (interp === null) return
    const text = execFileSync(interp.argv[0] as string, [...interp.argv.slice(1), '-c', PROBE, join(repoRoot, 'lib', 'python', 'worker.py')], { encoding: 'utf8', env: { ...process.env, ...interp.env }, timeout: 120_000 })
    const out = JSON.parse(text) as Probe
    t.equal(out.own, own, own ? 'its own primitives on _thread' : 'threading\'s')
    if (own) {
      t.notOk(out.imported_threading, 'the worker\'s code imports no threading module')
      t.notOk(out.threading_late, 'nor does import_late()')
      t.notOk(out.threading_after, 'nor do its primitives, used')
    }
    t.equal(out.notify_one.length, 1, 'notify() wakes one waiter')
    t.equal(out.notify_all.length, 3, 'notify_all() wakes the others')
    t.ok(out.waited, 'a wait with a timeout returns after it')
    t.same(out.event_initial, [false, false])
    t.same(out.event_set, [true, true, true, true], 'set() releases every waiter, and stays set')
    t.same(out.event_clear, [false, false])
    // Python 2's threading.Condition.wait() returns None; ours, as Python 3's, whether it was notified
    if (!own) return
    t.same(out.notify_one, [true], 'a notified wait returns True')
    t.same(out.notify_all, [true, true, true])
    t.equal(out.timeout, false, 'a wait that times out says so')
    t.equal(out.zero_timeout, false)
    t.equal(out.lost, 0, 'a notify() that meets a timeout reaches a waiter that reports True')
    t.ok(out.interrupted, 'an interrupt comes through a wait')
    t.ok(out.held_after, 'with the lock held again')
    t.equal(out.left_behind, 0, 'and no waiter left on the condition')
  })
}

// The first execution holds the main thread, waiting; the second runs in a
// pool thread and is the first to import threading (none of the worker's
// code has); then the first looks at itself.
const MAIN = 'channel.receive()\nimport threading\nchannel.send(threading.current_thread().name)'
const POOL = 'import sys\nbefore = "threading" in sys.modules\nimport threading\nchannel.send([before, threading.current_thread().name == "MainThread"])'

for (const [what, find, own] of cases) {
  t.test(`${what}: threading imported first by user code in a pool thread`, async (t) => {
    const interp = require(t, find(), what)
    if (interp === null) return
    const env = Object.entries(interp.env).map(([k, v]) => `//env:${k}=${v}`).join('')
    const gw = await Gateway.start(`popen//python=${interp.argv.join(' ')}${env}`, { stderr: 'pipe' })
    t.teardown(async () => { await gw.terminate(5) })
    const main = gw.remoteExec(MAIN)
    const [before, poolIsMain] = await gw.remoteExec(POOL).receive() as [boolean, boolean]
    // where the worker builds its own primitives, this is the first import of threading
    if (own) t.equal(before, false, 'nothing imported threading before the pool thread did')
    t.equal(poolIsMain, false, 'the pool thread is not taken for the main thread')
    await main.send(null)
    t.equal(await main.receive(), 'MainThread', 'and the main thread is still MainThread')
  })
}
