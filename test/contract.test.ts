// The master (TypeScript) and our worker (lib/python/worker.py) each keep
// their own copy of the protocol's constants and rules; this loads the
// worker's file in a Python, without running it (the bootstrap appends the
// call of main()), and checks that the two agree: message codes and names,
// the frame header, the credit payload, the grant step, and the call the
// bootstrap makes.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { CHANNEL_CREDIT, CREDIT_SIZE, HEADER_SIZE, MessageCode, decodeCredit, encodeCredit, messageCodeName, writeHeader } from '../lib/wire/frame.js'
import { grantStep } from '../lib/flow.js'
import { bootstrapProgram } from '../lib/bootstrap.js'
import { parseSpec } from '../lib/spec.js'
import { cpython, repoRoot, require } from './helpers/interpreters.js'

// Reads {headers, credits, windows, programs} on stdin; answers with the
// worker's view of each as JSON. main() is replaced, while the bootstrap's
// call runs, by one that binds its arguments to the real main's parameters.
const PROBE = `
import inspect, json, sys
request = json.loads(sys.stdin.read())
ns = {"__name__": "worker_under_test"}
with open(request["worker"]) as f:
    exec(compile(f.read(), request["worker"], "exec"), ns)
# what main() imports once its ready byte is out, which the gateway's classes need
ns["import_late"]()
names = ns["MESSAGE_NAMES"]
out = {
    "codes": dict((name, ns[name]) for name in names),
    "names": dict((code, ns["message_name"](code)) for code in range(len(names))),
    "header": [ns["HEADER"].format, ns["HEADER"].size],
    "headers": [ns["HEADER"].pack(*h).hex() for h in request["headers"]],
    "credit": [ns["CREDIT"].format, ns["CREDIT"].size],
    "credits": [ns["CREDIT"].pack(n).hex() for n in request["credits"]],
    "decoded": [ns["CREDIT"].unpack(bytes.fromhex(h))[0] for h in request["encoded"]],
    "steps": [ns["grant_step"](w) for w in request["windows"]],
    "flowsteps": [ns["Flows"](w).grant_step for w in request["windows"]],
    "main": list(inspect.signature(ns["main"]).parameters),
}
calls = []
real = inspect.signature(ns["main"])
def bind(*args, **kwargs):
    calls.append(dict(real.bind(*args, **kwargs).arguments))
for program in request["programs"]:
    # the program as the bootstrap line evaluates it; its last line is the call
    call = eval(program).rstrip("\\n").split("\\n")[-1]
    exec(call, {"main": bind, "clientsock": "<the connection>"})
out["calls"] = calls
sys.stdout.write(json.dumps(out))
`

const headers: Array<[number, number, number]> = [[4, 7, 1234], [8, -3, 0], [0, 2147483647, 2147483647], [-128, -2147483648, 0]]
const credits = [0, 1, 65535, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
const windows = [1, 2, 3, 4, 5, 65535, 65536, 123457, 2 ** 30 + 1]

t.test('the master and our worker agree on the protocol', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const programs = [
    bootstrapProgram(parseSpec('popen'), 'gw1'),
    bootstrapProgram(parseSpec('popen//execmodel=main_thread_only//nice=5'), 'gw2', 65536, 50),
    bootstrapProgram(parseSpec('socket=127.0.0.1:8888//server=execnet'), 'gw3', 1 << 20, 7)
  ]
  const request = {
    worker: join(repoRoot, 'lib', 'python', 'worker.py'),
    headers,
    credits,
    encoded: credits.map((n) => encodeCredit(n).toString('hex')),
    windows,
    programs
  }
  const text = execFileSync(interp.argv[0] as string, [...interp.argv.slice(1), '-c', PROBE], { input: JSON.stringify(request), encoding: 'utf8', env: { ...process.env, ...interp.env } })
  const worker = JSON.parse(text) as {
    codes: Record<string, number>
    names: Record<string, string>
    header: [string, number]
    headers: string[]
    credit: [string, number]
    credits: string[]
    decoded: number[]
    steps: number[]
    flowsteps: number[]
    main: string[]
    calls: Array<Record<string, unknown>>
  }

  t.same(worker.codes, { ...MessageCode, CHANNEL_CREDIT }, 'every message code, by name')
  const names: Record<string, string> = {}
  for (const code of [...Object.values(MessageCode), CHANNEL_CREDIT]) names[String(code)] = messageCodeName(code)
  t.same(worker.names, names, 'every message name, by code')

  t.same(worker.header, ['!bii', HEADER_SIZE], 'the header: !bii, HEADER_SIZE bytes')
  t.same(worker.headers, headers.map(([code, id, length]) => {
    const header = Buffer.alloc(HEADER_SIZE)
    writeHeader(header, 0, code, id, length)
    return header.toString('hex')
  }), 'headers pack to the same bytes, at the edges of their fields')

  t.same(worker.credit, ['!Q', CREDIT_SIZE], 'the credit payload: a big-endian uint64, CREDIT_SIZE bytes')
  t.same(worker.credits, credits.map((n) => encodeCredit(n).toString('hex')), 'credits encode to the same bytes')
  t.same(worker.decoded, credits, "and the master's encoding reads back in the worker")
  t.same(credits.map((n) => decodeCredit(Buffer.from(worker.credits[credits.indexOf(n)] as string, 'hex'))), credits, "and the worker's in the master")

  const steps = windows.map(grantStep)
  t.same(worker.steps, steps, `the grant step for windows ${windows.join(', ')}`)
  t.same(worker.flowsteps, steps, 'and the one the worker\'s Flows use')

  t.same(worker.calls, [
    { id: 'gw1-worker', execmodel: 'thread', window: null },
    { id: 'gw2-worker', execmodel: 'main_thread_only', window: 65536, spin: 0.00005 },
    { id: 'gw3-worker', execmodel: 'thread', window: 1 << 20, sock: '<the connection>', spin: 0.000007 }
  ], `the bootstrap's calls bind to main(${worker.main.join(', ')}) as meant`)
})
