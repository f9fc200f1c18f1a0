// The queue behind channels' received items, held sends and receive queues:
// the same order and contents as an array used with push/shift, at any
// length and across its internal compactions.
import t from 'tap'
import { Fifo } from '../lib/fifo.js'

t.test('against an array, in random runs of pushes and shifts', async (t) => {
  let seed = 7
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const fifo = new Fifo<number>()
  const model: number[] = []
  let next = 0
  let mismatches = 0
  for (let step = 0; step < 2000; step++) {
    // phases that grow the queue past the compaction threshold and drain it
    const pushes = rnd(step % 200 < 100 ? 400 : 50)
    const shifts = rnd(step % 200 < 100 ? 50 : 400)
    for (let i = 0; i < pushes; i++) { fifo.push(next); model.push(next); next++ }
    for (let i = 0; i < shifts; i++) {
      if (fifo.peek() !== model[0]) mismatches++
      if (fifo.shift() !== model.shift()) mismatches++
    }
    if (fifo.length !== model.length) mismatches++
  }
  t.equal(mismatches, 0, 'same items, same order, same length')
  t.ok(next > 100_000, `${next} items went through`)
  t.strictSame(fifo.drain(), model, 'drain gives the rest, oldest first')
  t.equal(fifo.length, 0)
  t.equal(fifo.shift(), undefined, 'shift on empty')
  t.equal(fifo.peek(), undefined, 'peek on empty')
})

t.test('falsy items are items', async (t) => {
  const fifo = new Fifo<unknown>()
  for (const v of [0, null, '', false, undefined]) fifo.push(v)
  t.equal(fifo.length, 5)
  t.strictSame([fifo.shift(), fifo.shift(), fifo.shift(), fifo.shift()], [0, null, '', false])
  t.equal(fifo.length, 1, 'an undefined item still counts')
})

t.test('remove takes an item out wherever it is', async (t) => {
  const fifo = new Fifo<object>()
  const items = Array.from({ length: 3000 }, (_, i) => ({ i }))
  for (const item of items) fifo.push(item)
  for (let i = 0; i < 1500; i++) fifo.shift() // past a compaction
  t.ok(fifo.remove(items[2000] as object), 'a queued item')
  t.notOk(fifo.remove(items[10] as object), 'one already taken')
  t.notOk(fifo.remove({ i: 2001 }), 'an equal but other object')
  t.equal(fifo.length, 1499)
  const rest = fifo.drain()
  t.equal(rest[0], items[1500], 'order kept: oldest first')
  t.notOk(rest.includes(items[2000] as object), 'the removed item is gone')
  t.equal(rest.length, 1499)
})

t.test('unshift puts an item back in front, before and after compactions', async (t) => {
  const fifo = new Fifo<number>()
  fifo.unshift(1)
  t.equal(fifo.shift(), 1, 'on an empty queue')
  for (let i = 0; i < 3000; i++) fifo.push(i)
  for (let i = 0; i < 1500; i++) fifo.shift() // past a compaction
  fifo.unshift(-1)
  t.equal(fifo.peek(), -1, 'the next one out')
  t.equal(fifo.length, 1501)
  t.same(fifo.drain().slice(0, 3), [-1, 1500, 1501], 'then the rest in order')
})
