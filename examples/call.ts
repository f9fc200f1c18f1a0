// Calling Python functions from Node: an importable module's function, a
// function from source with keyword arguments, an exception as a
// RemoteError, and a call that times out while the gateway goes on.
// Usage: npx tsx examples/call.ts [python]   (default: python3)
import { makeGateway, defaultGroup, RemoteError, TimeoutError } from '../index.js'

const gw = await makeGateway(`popen//python=${process.argv[2] ?? 'python3'}`)

console.log('operator:add ->', await gw.call('operator:add', 40, 2))

const stats = gw.function(`
    def stats(values, digits=2):
        mean = float(sum(values)) / len(values)
        spread = max(values) - min(values)
        return {"mean": round(mean, digits), "spread": spread}
`)
console.log('stats ->', await stats.invoke([[1, 2, 3, 4]], { digits: 1 }))

const parse = gw.function('def parse(text):\n    return int(text)')
try {
  await parse('forty-two')
} catch (err) {
  if (err instanceof RemoteError) console.log('parse ->', err.formatted.trimEnd().split('\n').pop())
}

const nap = gw.function('import time\ndef nap(seconds):\n    time.sleep(seconds)\n    return seconds')
try {
  await nap.invoke([1], null, { timeout: 0.2 })
} catch (err) {
  if (err instanceof TimeoutError) console.log('nap ->', err.message)
}
console.log('and after it:', await parse('42'))
await defaultGroup.terminate()
