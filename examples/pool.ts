// A CPU-bound Python function over 10,000 inputs on N workers, with
// progress as results arrive: f.imap yields in input order while the
// workers share the inputs in batches sized to their speed.
// Usage: npx tsx examples/pool.ts [python] [workers]   (default: python3, 2)
import { Pool } from '../index.js'

const python = process.argv[2] ?? 'python3'
const size = Number(process.argv[3] ?? 2)
const pool = await Pool.start(`popen//python=${python}`, { size })

// the number of primes below n, by trial division: CPU-bound on purpose
const countPrimes = pool.function(`
    def count_primes(n):
        count = 0
        for k in range(2, n):
            d = 2
            while d * d <= k:
                if k % d == 0:
                    break
                d += 1
            else:
                count += 1
        return count
`)

const INPUTS = 10_000
const inputs = Array.from({ length: INPUTS }, (_, i) => 100 + (i % 400))
let done = 0
let total = 0
for await (const count of countPrimes.imap(inputs)) {
  total += count as number
  done++
  if (done % 2500 === 0) console.log(`${done}/${INPUTS} done`)
}
console.log(`${INPUTS} inputs on ${pool.size} workers: ${total} primes counted`)
await pool.close()
