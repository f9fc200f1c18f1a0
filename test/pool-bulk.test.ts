// Large inputs through a pool: each 1 MiB numpy array goes alone in its
// batch (BATCH_BYTES) and its bytes travel as the caller's own memory to
// the pipe (the encoder hands the Buffer on, uncopied), and the worker's
// numpy reads them as sent.
import t from 'tap'
import { Pool, toNumpy } from '../index.js'
import { Encoder } from '../lib/serializer/dumps.js'
import { require, venvPython } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'

t.test('1 MiB arrays through pool.map: one per batch, uncopied on the way out', async (t) => {
  const interp = require(t, venvPython(), 'the venv with numpy (.ci/run makes it)')
  if (interp === null) return
  const pool = await Pool.start(specFor(interp), { size: 2 })
  t.teardown(async () => { await pool.close(5) })
  const total = pool.function('import numpy\ndef total(a):\n    dtype, data, shape = a\n    return float(numpy.frombuffer(data, dtype).sum())')
  const arrays = Array.from({ length: 12 }, (_, i) => new Float64Array(131072).fill(i + 1))
  // every message's chunks, as the gateways' encoders hand them to the wire
  const sent: Buffer[][] = []
  const encodeChunks = Encoder.prototype.encodeChunks
  Encoder.prototype.encodeChunks = function (this: Encoder, ...args: Parameters<Encoder['encodeChunks']>) {
    const chunks = encodeChunks.apply(this, args)
    sent.push(chunks)
    return chunks
  }
  t.teardown(() => { Encoder.prototype.encodeChunks = encodeChunks })
  const results = await total.map(arrays.map((a) => toNumpy(a, [a.length])))
  t.same(results, arrays.map((_, i) => (i + 1) * 131072), 'every sum right')
  const carrying = sent.filter((chunks) => chunks.some((c) => arrays.some((a) => c.buffer === a.buffer)))
  t.equal(carrying.length, arrays.length, 'one message per array')
  t.ok(carrying.every((chunks) => chunks.filter((c) => arrays.some((a) => c.buffer === a.buffer && c.byteOffset === a.byteOffset && c.byteLength === a.byteLength)).length === 1),
    "each holds its array's bytes as the array's own memory, whole: not copied")
})
