// Batches of plain numbers travel packed (array.array on the worker, see
// lib/python/callserver.py): the values a function sees and returns must
// be exactly those of the unpacked path, on every interpreter: int32
// bounds, -0 and integers beyond int32 (which are not packed), NaN and the
// infinities, bools (an int subclass, never packed as ints), mixed kinds.
import t from 'tap'
import { Pool } from '../index.js'
import { cpython, jython, pypy3, require, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'

const DESCRIBE = 'def describe(x):\n    return [type(x).__name__ in ("int", "long"), type(x).__name__ == "float", repr(x)]'
const IDENTITY = 'def identity(x):\n    return x'

for (const [what, find] of [['CPython 3.12 (pyenv)', () => cpython('3.12')], ['CPython 2.7 (pyenv)', () => cpython('2.7')], ['pypy3 (Debian package)', pypy3], ['jython (Debian package)', jython]] as Array<[string, () => Interpreter | null]>) {
  t.test(`packed batches on ${what}`, async (t) => {
    const interp = require(t, find(), what)
    if (interp === null) return
    const pool = await Pool.start(specFor(interp), { size: 1 })
    t.teardown(async () => { await pool.close(5) })
    const describe = pool.function(DESCRIBE)
    const identity = pool.function(IDENTITY)
    const ints = [0, 1, -1, 2147483647, -2147483648, ...Array.from({ length: 40 }, (_, i) => i * 7919 - 100000)]
    const seen = await describe.map(ints) as Array<[boolean, boolean, string]>
    t.ok(seen.every(([isInt, isFloat]) => isInt && !isFloat), 'int32 numbers arrive as Python ints')
    t.same(seen.map((s) => s[2].replace(/L$/, '')), ints.map(String), 'with their values')
    t.same(await identity.map(ints), ints, 'and come back packed as the same numbers')

    const floats = [0.5, -0, Number.NaN, Infinity, -Infinity, 1e300, 2 ** 60, ...Array.from({ length: 20 }, (_, i) => i + 0.25)]
    const fseen = await describe.map(floats) as Array<[boolean, boolean, string]>
    t.ok(fseen.every(([isInt, isFloat]) => !isInt && isFloat), 'non-integers, -0 and unsafe integers arrive as Python floats')
    t.same(await identity.map(floats), floats, 'and come back as the same numbers (-0 and NaN included)')

    const wide = [...ints, 2 ** 40, -(2 ** 40)]
    t.same(await identity.map(wide), wide, 'an int beyond int32: the batch goes unpacked, and comes back right')
    const wseen = await describe.map(wide) as Array<[boolean, boolean, string]>
    t.ok(wseen.every(([isInt]) => isInt), 'as ints')
    const mixed = [...ints, 0.5]
    t.same(await identity.map(mixed), mixed, 'ints and floats mixed: unpacked, each keeps its kind')
    t.same((await describe.map(mixed) as Array<[boolean, boolean, string]>).map((s) => s[1]), mixed.map((x) => !Number.isInteger(x)))

    const bools = pool.function('def odd(x):\n    return x % 2 == 1')
    t.same(await bools.map(ints), ints.map((x) => Math.abs(x % 2) === 1), 'bools come back as booleans, not 0 and 1')
    const big = pool.function('def big(x):\n    return x * 2 ** 40')
    t.same(await big.map(ints), ints.map((x) => x * 2 ** 40), 'int results beyond int32 come back unpacked')
  })
}
