// The gateway's lifecycle decisions (lib/lifecycle.ts), without a worker:
// every event in every phase, and the errors they settle on.
import t from 'tap'
import { next, isFinal, type GatewayState, type GatewayEvent } from '../lib/lifecycle.js'
import { GatewayClosedError } from '../index.js'

const open: GatewayState = { phase: 'open' }
const exit0 = { exitCode: 0, signal: null }
const killed = { exitCode: null, signal: 'SIGKILL' as const }
const run = (events: GatewayEvent[], from: GatewayState = open): GatewayState => events.reduce((s, e) => next(s, e, 'gw'), from)

t.test('a clean end needs both: this side asked, and the worker exited with 0', async (t) => {
  const closed = run([{ type: 'exit' }, { type: 'eof' }, { type: 'gone', exit: exit0 }])
  t.same(closed, { phase: 'closed', exit: exit0 })
  t.ok(isFinal(closed))
  const unasked = run([{ type: 'eof' }, { type: 'gone', exit: exit0 }])
  t.equal(unasked.phase, 'failed', 'a worker that ends unasked fails, even with 0')
  t.match(unasked.phase === 'failed' ? unasked.error.message : '', /exited with code 0 before it was asked to exit/)
  const eofThenExit = run([{ type: 'eof' }, { type: 'exit' }, { type: 'gone', exit: exit0 }])
  t.equal(eofThenExit.phase, 'closed', 'exit() after the worker closed its end still counts as asked')
  const badCode = run([{ type: 'exit' }, { type: 'gone', exit: { exitCode: 2, signal: null } }])
  t.match(badCode.phase === 'failed' ? badCode.error.message : '', 'the worker of gateway gw exited with code 2')
})

t.test('a broken pipe waits for the exit, and the error says how it ended', async (t) => {
  const cause = new Error('EPIPE')
  const broken = run([{ type: 'broken', error: cause }])
  t.same(broken, { phase: 'broken', cause })
  t.notOk(isFinal(broken))
  t.equal(next(broken, { type: 'exit' }, 'gw'), broken, 'exit() changes nothing then')
  const failed = next(broken, { type: 'gone', exit: killed }, 'gw')
  t.equal(failed.phase, 'failed')
  if (failed.phase !== 'failed') return
  t.type(failed.error, GatewayClosedError)
  t.equal(failed.error.message, 'the worker of gateway gw was killed by SIGKILL')
  t.equal(failed.error.cause, cause)
  t.equal(failed.error.signal, 'SIGKILL')
})

t.test('a protocol error fails at once, and learns the exit later', async (t) => {
  const cause = new Error('unknown message code 99')
  for (const from of [open, run([{ type: 'exit' }]), run([{ type: 'broken', error: new Error('x') }])]) {
    const failed = next(from, { type: 'protocol', error: cause }, 'gw')
    t.equal(failed.phase, 'failed', `from ${from.phase}`)
    if (failed.phase !== 'failed') continue
    t.equal(failed.exit, null)
    t.notOk(isFinal(failed), 'not final until the worker is gone')
    t.equal(next(failed, { type: 'eof' }, 'gw'), failed)
    t.equal(next(failed, { type: 'protocol', error: new Error('again') }, 'gw'), failed, 'the first error stays')
    const final = next(failed, { type: 'gone', exit: killed }, 'gw')
    t.ok(isFinal(final))
    t.equal(final.phase === 'failed' ? final.error.message : '', 'protocol error from the worker of gateway gw: unknown message code 99 (the worker was killed by SIGKILL)')
    t.equal(final.phase === 'failed' ? final.error.cause : null, cause)
  }
})

t.test('nothing moves a final state', async (t) => {
  const closed = run([{ type: 'exit' }, { type: 'gone', exit: exit0 }])
  for (const e of [{ type: 'exit' }, { type: 'eof' }, { type: 'broken', error: new Error('x') }, { type: 'protocol', error: new Error('y') }, { type: 'gone', exit: killed }] as GatewayEvent[]) {
    t.equal(next(closed, e, 'gw'), closed, `${e.type} after closed`)
  }
  t.equal(next(open, { type: 'gone', exit: exit0 }, 'gw').phase, 'failed', 'gone while open: the worker vanished')
})
