// Soak: random open / send / kill cycles against real workers, for as long
// as asked (`npm run soak -- [seconds]`, default 180). Every expected error
// must come as the right type; at the end nothing may be left behind (file
// descriptors, child processes). Prints the counts as a table.
import { join } from 'node:path'
import { Gateway, GatewayClosedError, RemoteError, TimeoutError, dumps, loads } from 'execnet'
import { cpython, repoRoot } from '../test/helpers/interpreters.js'
import { specFor } from '../test/helpers/targets.js'
import { fc } from '../test/helpers/fuzz.js'
import { children, openFds } from '../test/helpers/processes.js'

const seconds = Number(process.argv[2] ?? 180)
const interps = ['3.12', '2.7', '3.8'].map(cpython).filter((i) => i !== null)
if (interps.length === 0) throw new Error('no CPython found (pyenv)')
const values = fc.sample(fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.string({ maxLength: 30 }), fc.array(fc.integer(), { maxLength: 20 }), fc.boolean(), fc.constant(null)), 5000)

const counts = { gateways: 0, messages: 0, checked: 0, faults: 0, expectedErrors: 0, unexpected: 0 }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T
function expectError (err: unknown, type: new (...args: never[]) => Error): void {
  if (err instanceof type) counts.expectedErrors++
  else { counts.unexpected++; console.error('unexpected:', err) }
}

const fdsBefore = openFds()
const deadline = Date.now() + seconds * 1000
while (Date.now() < deadline) {
  const interp = pick(interps)
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  counts.gateways++
  const echo = gw.remoteExec('for x in channel:\n    channel.send(x)')
  const fault = Math.floor(Math.random() * 5)
  const n = 50 + Math.floor(Math.random() * 500)
  try {
    for (let i = 0; i < n; i++) {
      const v = pick(values)
      if (fault === 1 && i === n >> 1) { counts.faults++; process.kill(gw.pid as number, 'SIGKILL') }
      await echo.send(v)
      counts.messages++
      const back = await echo.receive({ timeout: 30 })
      // what loads gives for the same bytes is what must come back
      if (JSON.stringify(back) !== JSON.stringify(loads(dumps(v), { py2strAsPy3str: true }))) { counts.unexpected++; console.error('mismatch', v, back) } else counts.checked++
    }
    if (fault === 1) counts.unexpected++ // the kill must have failed the loop
  } catch (err) {
    if (fault === 1) expectError(err, GatewayClosedError)
    else { counts.unexpected++; console.error(err) }
  }
  if (fault === 2) {
    counts.faults++
    await gw.remoteExec('raise ValueError("soak")').waitClose(30).then(() => { counts.unexpected++ }, (e: unknown) => { expectError(e, RemoteError) })
  }
  if (fault === 3) {
    counts.faults++
    await gw.remoteExec('import time\ntime.sleep(100)').receive({ timeout: 0.05 }).then(() => { counts.unexpected++ }, (e: unknown) => { expectError(e, TimeoutError) })
  }
  if (fault === 4) {
    counts.faults++
    const bad = await Gateway.start(`popen//python=${interp.argv[0] as string} ${join(repoRoot, 'test/fixtures/bad-worker.py')} ${pick(['unknown-code', 'negative-length', 'huge-frame', 'bad-payload'])}`, { stderr: 'pipe' })
    counts.gateways++
    await bad.remoteExec('x').receive().then(() => { counts.unexpected++ }, (e: unknown) => { expectError(e, GatewayClosedError) })
    await bad.terminate(2)
  }
  const t0 = Date.now()
  await gw.terminate(2)
  if (Date.now() - t0 > 3500) { counts.unexpected++; console.error('terminate took', Date.now() - t0, 'ms') }
}
await new Promise((resolve) => setTimeout(resolve, 200))
const leakedFds = Math.max(0, openFds() - fdsBefore)
const leakedChildren = children().length
console.log(`# bench/soak — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${seconds} s, ${interps.map((i) => i.name).join(', ')}`)
console.log('| gateways started | messages sent | messages checked | faults injected | errors as expected | unexpected | leaked fds | leaked processes |')
console.log('|---|---|---|---|---|---|---|---|')
console.log(`| ${counts.gateways} | ${counts.messages} | ${counts.checked} | ${counts.faults} | ${counts.expectedErrors} | ${counts.unexpected} | ${leakedFds} | ${leakedChildren} |`)
if (counts.unexpected > 0 || leakedFds > 0 || leakedChildren > 0) process.exitCode = 1
