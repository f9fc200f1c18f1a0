// Our worker's receiver thread reads large items ahead while their taker
// works on them, but only while the taker gets a CPU when it wants one:
// beside a CPU-bound process the hand-over costs more than the overlap
// saves. The decision follows the taker's run delay (Linux's schedstat),
// with two thresholds so it does not flap; bytes arrive whole either way.
import t from 'tap'
import { Gateway } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { oursTargets, specFor } from './helpers/targets.js'

/** Remote code that reaches the worker's module globals (run_delay, ReadAhead...) and its gateway. */
const GLOBALS = "G = channel.send.__func__.__globals__\ng = channel.gateway\n"

for (const target of oursTargets()) {
  t.test(`${target.label}: the taker's run delay, and whether it reads ahead`, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    const [first, second, readAhead] = await gw.remoteExec(GLOBALS + [
      'a = G["run_delay"]()',
      'x = 0',
      'for i in range(200000):',
      '    x += i',
      'channel.send((a, G["run_delay"](), G["READ_AHEAD"]))'
    ].join('\n')).receive() as [number | null, number | null, boolean]
    // Linux says (this suite runs there); a system that does not gives None
    t.type(first, 'number', `run_delay() read the thread's schedstat: ${String(first)} s`)
    t.ok(first !== null && second !== null && second >= first && first >= 0, 'it never goes back')
    // the mechanism, with the thread's delays and the clock made up: it
    // reads ahead until the taker waits for a CPU more than 30% of its
    // time, and again once it waits less than 15% (each look averaged
    // with the ones before, the last weighing half)
    const decisions = await gw.remoteExec(GLOBALS + [
      'delays = [0.0]',
      'clock = [0.0]',
      // a policy of its own, given the made-up clock and run delay
      'policy = G["ReadAhead"](G["READ_AHEAD"], clock=lambda: clock[0], run_delay=lambda: delays[0])',
      'out = []',
      'def look(at, delay):',
      '    clock[0] = at',
      '    delays[0] = delay',
      '    out.append(policy.pays())',
      'look(1.0, 0.0)',  // the first look only marks
      'look(1.01, 0.009)',  // before AHEAD_CHECK: the last decision
      'look(1.1, 0.05)',  // waited 50% of 0.1 s, alone: averaged 25%, still on
      'look(1.2, 0.1)',  // 50% again: 37.5%, off
      'look(1.3, 0.12)',  // 20%: 28.75%, stays off
      'look(1.4, 0.12)',  // 0%: 14.4%, on again
      // another thread looks: its numbers start a new mark, no decision
      'import threading',
      'th = threading.Thread(target=look, args=(1.5, 10.0))',
      'th.start(); th.join()',
      'look(1.6, 10.0)',  // this thread again, after the other's mark: a new mark
      // a system that does not say: read ahead, and stop looking
      'policy = G["ReadAhead"](G["READ_AHEAD"], clock=lambda: clock[0], run_delay=lambda: None)',
      'policy.ahead = False',
      'look(2.0, 0.0)',
      'channel.send((out, policy.next))'
    ].join('\n')).receive() as [boolean[], number]
    if (readAhead) {
      t.same(decisions[0], [true, true, true, false, false, true, true, true, true], 'a lone burst leaves it on; off past 30%, on again under 15%; other threads mark anew')
      t.equal(decisions[1], Infinity, 'no more looks where the system does not say')
    } else {
      // CPython 2: the taker reads its large items itself, always
      t.same(decisions[0], Array(9).fill(false), 'never reads ahead')
    }
  })
}

const minor = '3.12'

t.test(`CPython ${minor}: a taker short of CPU reads on itself, and reads ahead again once it is not`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(() => gw.terminate(5))
  // 1 MiB items, each sent when the last one is answered (so the taker
  // always waits for it), until the worker's decision is the one expected
  // (looks come every 50 ms, taken at items: how many items that takes
  // depends on the machine), then 20 more: after each, whether the
  // receiver thread holds the reading role (it reads ahead), and a
  // checksum of the item
  const consume = (share: number): string => GLOBALS + [
    'import time',
    // a taker that waits for a CPU this share of its time
    'g.input.readahead.run_delay = lambda: time.time() * ' + String(share),
    // the receiver thread also takes the role back from a taker that has
    // not received for READ_GRACE (5 ms): on a loaded machine the master's
    // next item can take longer than that, and that reclaim is not the
    // decision this test looks at, so it waits longer here
    'grace = G["READ_GRACE"]',
    'G["READ_GRACE"] = 0.25',
    'for item in iter(channel.receive, None):',
    '    channel.send((g.input.readahead.ahead, g.input.reader == g.input.loop_ident, sum(bytearray(item[:64])) + len(item)))',
    'G["READ_GRACE"] = grace'
  ].join('\n')
  const run = async (share: number, ahead: boolean): Promise<{ before: number, lent: boolean[] }> => {
    const ch = gw.remoteExec(consume(share))
    let before = 0
    const lent: boolean[] = []
    for (let i = 0; lent.length < 20 && i < 2000; i++) {
      await ch.send(Buffer.alloc(1 << 20, i % 251))
      const [decided, wasLent, sum] = await ch.receive({ timeout: 30 }) as [boolean, boolean, number]
      t.equal(sum, 64 * (i % 251) + (1 << 20), `item ${i} whole`, { diagnostic: false })
      if (decided !== ahead) {
        before = i + 1
        lent.length = 0
      } else if (i > before) {
        lent.push(wasLent) // not the item the decision came with: read under the old one
      }
    }
    await ch.send(null)
    await ch.waitClose(30)
    return { before, lent }
  }
  const crowded = await run(0.5, false)
  t.equal(crowded.lent.length, 20, `waiting half its time for a CPU, the taker stopped reading ahead (after ${crowded.before} items)`)
  t.ok(crowded.lent.every((x) => !x), 'then it read each item itself')
  const free = await run(0, true)
  t.equal(free.lent.length, 20, `not waiting, it reads ahead again (after ${free.before} items)`)
  t.ok(free.lent.every((x) => x), 'then after each item the receiver thread read on')
})
