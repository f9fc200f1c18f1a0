// The decoders' fuzz properties, for as long as asked: `npm run fuzz --
// [seconds] [seed]` (default 60 s, a random seed, printed so a failure can
// be replayed). Prints the counts; a failure prints fast-check's shrunk
// counterexample and exits 1.
import { fc, dumpInput, frameInput, checkDump, checkFrames } from '../test/helpers/fuzz.js'

const seconds = Number(process.argv[2] ?? 60)
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31))
const deadline = Date.now() + seconds * 1000
let dumpsChecked = 0
let framesChecked = 0
let round = 0
console.log(`# bench/fuzz — ${new Date().toISOString()}, node ${process.version}, seed ${seed}, ${seconds} s`)
while (Date.now() < deadline) {
  const s = seed + round++
  fc.assert(fc.property(dumpInput, (input) => { checkDump(input); dumpsChecked++ }), { numRuns: 10000, seed: s })
  fc.assert(fc.property(frameInput, (input) => { checkFrames(input); framesChecked++ }), { numRuns: 10000, seed: s })
}
console.log('| inputs | checked | failures |\n|---|---|---|')
console.log(`| dumps (whole and streamed) | ${dumpsChecked} | 0 |`)
console.log(`| frame streams | ${framesChecked} | 0 |`)
