// Churn leaves nothing behind: 500 gateways started and terminated in a
// row, 10,000 channels on one gateway, a 256 MiB bytes value each way;
// afterwards no more open file descriptors, child processes or memory than
// before (within a small bound).
import t from 'tap'
import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Gateway } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { children, openFds } from './helpers/processes.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const GATEWAYS = Number(process.env.CHURN_GATEWAYS ?? 500)
const CHANNELS = Number(process.env.CHURN_CHANNELS ?? 10000)

async function settle (): Promise<{ fds: number, heap: number, external: number }> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    gc()
  }
  const m = process.memoryUsage()
  return { fds: openFds(), heap: m.heapUsed, external: m.external + m.arrayBuffers }
}

for (const minor of ['3.12', '2.7']) t.test(`churn on CPython ${minor}`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return
  const spec = specFor(interp)
  // one gateway first, so lazily loaded code and caches are in the baseline
  await (await Gateway.start(spec, { stderr: 'pipe' })).terminate(5)
  const before = await settle()

  t.test(`${GATEWAYS} gateways started and terminated in a row`, async (t) => {
    const t0 = Date.now()
    for (let i = 0; i < GATEWAYS; i++) {
      const gw = await Gateway.start(spec, { stderr: 'pipe' })
      if (i % 50 === 0) t.equal(await gw.remoteExec('channel.send(1)').receive(), 1)
      const info = await gw.terminate(5)
      if (info.exitCode !== 0) t.fail(`gateway ${i} ended ${JSON.stringify(info)}`)
    }
    t.pass(`${GATEWAYS} in ${Date.now() - t0} ms`)
    t.same(children(), [], 'no child process left, not even a zombie')
  })

  t.test(`${CHANNELS} channels on one gateway`, async (t) => {
    const gw = await Gateway.start(spec, { stderr: 'pipe' })
    for (let done = 0; done < CHANNELS; done += 200) {
      await Promise.all(Array.from({ length: 200 }, async (_, k) => {
        const ch = gw.remoteExec('channel.send(channel.receive() + 1)')
        await ch.send(done + k)
        if (await ch.receive() !== done + k + 1) throw new Error('wrong answer')
        await ch.waitClose(30)
      }))
    }
    t.equal(gw.channelCount, 0, 'the master routes to no channel any more')
    const status = await gw.remoteStatus()
    t.ok(status.numchannels <= 2, `the worker holds ${status.numchannels} channels`)
    await gw.terminate(5)
  })

  t.test('a 256 MiB bytes value each way', async (t) => {
    const gw = await Gateway.start(spec, { stderr: 'pipe' })
    const big = Buffer.alloc(256 << 20)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 255
    const digest = createHash('sha256').update(big).digest('hex')
    const ch = gw.remoteExec('import hashlib\nb = channel.receive()\nchannel.send((len(b), hashlib.sha256(b).hexdigest()))\nchannel.send(b)')
    // Python 2 sends its bytes as str: keep them bytes here
    if (minor === '2.7') ch.reconfigure({ py2strAsPy3str: false })
    await ch.send(big)
    const [length, remoteDigest] = await ch.receive({ timeout: 120 }) as [number, string | Buffer]
    t.same([length, String(remoteDigest)], [big.length, digest], 'arrived whole')
    const back = await ch.receive({ timeout: 120 }) as Buffer
    t.ok(Buffer.isBuffer(back), 'bytes come back as a Buffer')
    t.equal(back.length, big.length)
    t.equal(createHash('sha256').update(back).digest('hex'), digest, 'came back whole')
    await gw.terminate(5)
  })

  t.test('afterwards: no growth in descriptors, children or memory', async (t) => {
    const after = await settle()
    t.ok(after.fds <= before.fds + 2, `open fds ${before.fds} -> ${after.fds}`)
    t.same(children(), [], 'no child processes')
    const heapGrowth = (after.heap - before.heap) / 2 ** 20
    const externalGrowth = (after.external - before.external) / 2 ** 20
    t.ok(heapGrowth < 32, `heap grew ${heapGrowth.toFixed(1)} MiB`)
    t.ok(externalGrowth < 32, `buffers grew ${externalGrowth.toFixed(1)} MiB`)
  })
})
