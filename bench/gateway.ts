// Gateway costs, in one run on one interpreter: start-up to first receive,
// terminate, round trip of small ping-pongs, small messages per second each
// way; ours (TypeScript master, our worker) beside the real execnet (Python
// master and worker), python-shell (JSON lines, the most used Node bridge)
// and the raw pipe (one line echoed by a bare Python loop). The two ratios
// that are goals are sampled in turns: our round trip with the raw pipe's,
// our start-up with execnet's (a Python master kept up between them). The
// round trips are also taken with our worker and the raw echo each
// sleeping in their reads and each polling first, and then with the master
// and the worker pinned to one CPU (PIN_CPU, default 0; `none` skips it),
// with each side's CPU per round trip.
// Run with `npm run bench:gateway`; BENCH_PYTHON picks the interpreter
// (default: the test venv's, which has execnet).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { PythonShell } from 'python-shell'
import { Gateway, None } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { median, now } from './measure.js'

const REPS = Number(process.env.REPS ?? 5)
const PINGS = Number(process.env.PINGS ?? 10_000)
const MESSAGES = Number(process.env.MESSAGES ?? 200_000)
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const spec = `popen//python=${python}`
// the CPU the master and the worker share for the pinned round trips
const PIN_CPU = process.env.PIN_CPU ?? '0'


interface Row { start?: number, terminate?: number, rtt?: number, toWorker?: number, fromWorker?: number }

/** execnet's start-ups, one per call, by a Python master that stays up between them. */
function execnetStarter (): { start: () => Promise<number>, close: () => void } {
  const child = spawn(python, [join(repoRoot, 'bench', 'gateway-execnet.py'), 'starts', python], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdout.setEncoding('utf8')
  let buffered = ''
  let pending: { resolve: (line: string) => void, reject: (err: Error) => void } | null = null
  child.stdout.on('data', (text: string) => {
    buffered += text
    const end = buffered.indexOf('\n')
    if (end >= 0 && pending !== null) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      const p = pending
      pending = null
      p.resolve(line)
    }
  })
  // a master that fails (no execnet in this interpreter) ends the bench with its error
  let exited: Error | null = null
  child.on('exit', (code) => {
    exited = new Error(`bench/gateway-execnet.py starts exited with ${String(code)} (its stderr is above)`)
    pending?.reject(exited)
  })
  child.stdin.on('error', () => {}) // EPIPE once it has exited: reported as above
  return {
    start: async () => Number(await new Promise<string>((resolve, reject) => {
      if (exited !== null) {
        reject(exited)
        return
      }
      pending = { resolve, reject }
      child.stdin.write('\n')
    })),
    close: () => { child.stdin.end() }
  }
}

async function ours (): Promise<Row & { rtts: RoundTrip[], backlog: number, execnetStart: number }> {
  const starts: number[] = []
  const terms: number[] = []
  const execnetStarts: number[] = []
  const starter = execnetStarter()
  // in turns with execnet's, one untimed each first: their ratio is a goal
  for (let i = 0; i <= REPS; i++) {
    const t0 = now()
    const gw = await Gateway.start(spec)
    await gw.remoteExec('channel.send(1)').receive()
    const took = now() - t0
    const t1 = now()
    await gw.terminate(10)
    const term = now() - t1
    const theirs = await starter.start()
    if (i === 0) continue
    starts.push(took)
    terms.push(term)
    execnetStarts.push(theirs)
  }
  starter.close()
  const gw = await Gateway.start(spec)
  const sleeper = await Gateway.start(spec, { spin: 0 })
  const rtts = await roundTrips(gw, sleeper)
  await sleeper.terminate(10)
  if (PIN_CPU !== 'none') rtts.push(...await pinnedRoundTrips(PIN_CPU))
  const toWorker: number[] = []
  const fromWorker: number[] = []
  for (let r = 0; r < REPS; r++) {
    let ch = gw.remoteExec('n = 0\nwhile channel.receive() is not None:\n    n += 1\nchannel.send(n)')
    let t0 = now()
    // stream writes honour the pipe's backpressure without awaiting each
    for (let i = 0; i < MESSAGES; i++) {
      if (!ch.write(i)) await new Promise((resolve) => ch.once('drain', resolve))
    }
    ch.write(None)
    if (await ch.receive() !== MESSAGES) throw new Error('lost messages')
    toWorker.push(MESSAGES / (now() - t0))
    ch = gw.remoteExec(`for i in range(${MESSAGES}):\n    channel.send(i)`)
    t0 = now()
    for (let i = 0; i < MESSAGES; i++) await ch.receive()
    fromWorker.push(MESSAGES / (now() - t0))
  }
  // a consumer that starts late: the whole burst waits in the channel first
  const backlog: number[] = []
  for (let r = 0; r < REPS; r++) {
    const done = gw.newChannel()
    const ch = gw.remoteExec(`done = channel.receive()\nfor i in range(${MESSAGES}):\n    channel.send(i)\ndone.send(1)`)
    await ch.send(done)
    await done.receive()
    const t0 = now()
    for (let i = 0; i < MESSAGES; i++) await ch.receive()
    backlog.push(MESSAGES / (now() - t0))
  }
  await gw.terminate(10)
  return { start: median(starts), terminate: median(terms), rtt: rtts[0]?.wall, rtts, toWorker: median(toWorker), fromWorker: median(fromWorker), backlog: median(backlog), execnetStart: median(execnetStarts) }
}

function execnet (): Row & { version: string } {
  const out = execFileSync(python, [join(repoRoot, 'bench', 'gateway-execnet.py'), String(REPS), String(PINGS), String(MESSAGES), python], { encoding: 'utf8', maxBuffer: 1 << 24 })
  return JSON.parse(out) as Row & { version: string }
}

const SHELL_ECHO = `
import sys, json
for line in sys.stdin:
    msg = json.loads(line)
    if msg == 'count':
        n = 0
        for line in sys.stdin:
            if json.loads(line) is None: break
            n += 1
        print(json.dumps(n)); sys.stdout.flush()
    elif msg == 'flood':
        for i in range(${MESSAGES}): print(json.dumps(i))
        sys.stdout.flush()
    else:
        print(json.dumps(msg)); sys.stdout.flush()
`

async function pythonShell (): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-shell-'))
  const script = join(dir, 'echo.py')
  writeFileSync(script, SHELL_ECHO)
  try {
    return await measureShell(script)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function measureShell (script: string): Promise<Row> {
  const starts: number[] = []
  const terms: number[] = []
  const opts = { mode: 'json' as const, pythonPath: python, pythonOptions: ['-u'] }
  for (let i = 0; i < REPS; i++) {
    const t0 = now()
    const shell = new PythonShell(script, opts)
    const first = new Promise((resolve) => shell.once('message', resolve))
    shell.send(1)
    await first
    starts.push(now() - t0)
    const t1 = now()
    await new Promise<void>((resolve) => { shell.end(() => { resolve() }) })
    terms.push(now() - t1)
  }
  const shell = new PythonShell(script, opts)
  const queue: unknown[] = []
  let wake: (() => void) | null = null
  shell.on('message', (m: unknown) => { queue.push(m); wake?.() })
  const next = async (): Promise<unknown> => {
    while (queue.length === 0) await new Promise<void>((resolve) => { wake = resolve })
    wake = null
    return queue.shift()
  }
  const rtts: number[] = []
  for (let r = 0; r < REPS; r++) {
    const t0 = now()
    for (let i = 0; i < PINGS; i++) { shell.send(i); await next() }
    rtts.push((now() - t0) / PINGS)
  }
  const toWorker: number[] = []
  const fromWorker: number[] = []
  for (let r = 0; r < REPS; r++) {
    shell.send('count')
    let t0 = now()
    for (let i = 0; i < MESSAGES; i++) shell.send(i)
    shell.send(null as unknown as object) // JSON null ends the count
    if (await next() !== MESSAGES) throw new Error('python-shell lost messages')
    toWorker.push(MESSAGES / (now() - t0))
    shell.send('flood')
    t0 = now()
    for (let i = 0; i < MESSAGES; i++) await next()
    fromWorker.push(MESSAGES / (now() - t0))
  }
  await new Promise<void>((resolve) => { shell.end(() => { resolve() }) })
  return { start: median(starts), terminate: median(terms), rtt: median(rtts), toWorker: median(toWorker), fromWorker: median(fromWorker) }
}

/** A ping-pong contender: one round trip per call, and the pid whose CPU it costs. */
interface Pinger { ping: () => Promise<void>, pid: number | undefined, close: () => void }

/** Our echo channel. */
function channelPinger (gw: Gateway): Pinger {
  const echo = gw.remoteExec('for x in channel:\n    channel.send(x)')
  let i = 0
  return {
    ping: async () => { await echo.send(i++); await echo.receive() },
    pid: gw.pid,
    close: () => { echo.end() }
  }
}

/**
 * The floor: 9-byte lines echoed by a bare Python loop on binary stdio. It
 * sleeps in readline(), or (`poll`) first polls its input for up to 50 µs,
 * as our worker does by default: the floor for a worker that polls.
 */
function rawEcho (poll: boolean, pin?: string): Pinger {
  const wait = poll ? 'p = select.poll()\np.register(r.fileno(), select.POLLIN)\n' : ''
  const spin = poll ? '    d = time.time() + 0.00005\n    while not p.poll(0) and time.time() < d: pass\n' : ''
  const source = `import select, sys, time\nr, w = sys.stdin.buffer, sys.stdout.buffer\n${wait}while True:\n${spin}    line = r.readline()\n    if not line: break\n    w.write(line); w.flush()`
  const argv = [...(pin === undefined ? [] : ['taskset', '-c', pin]), python, '-u', '-c', source]
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
  let pending: (() => void) | null = null
  let got = 0
  child.stdout.on('data', (chunk: Buffer) => { got += chunk.length; if (got >= 9 && pending !== null) { got -= 9; const p = pending; pending = null; p() } })
  const line = Buffer.from('12345678\n')
  return {
    ping: async () => { await new Promise<void>((resolve) => { pending = resolve; child.stdin.write(line) }) },
    pid: child.pid,
    close: () => { child.stdin.end() }
  }
}

/**
 * Seconds of CPU a process has used, all its threads (Linux; undefined
 * elsewhere): the first field of each thread's schedstat, in nanoseconds
 * (/proc/PID/stat counts in 10 ms ticks). Threads that ended are missed,
 * which our worker's long-lived threads are not.
 */
function cpuOf (pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    return ns / 1e9
  } catch {
    return undefined
  }
}

/** The master's CPU, as process.cpuUsage() gives it, in seconds. */
function masterCpu (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** Pin every thread of this process to `cpus` (taskset's list syntax). */
function pinMaster (cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' })
}

interface RoundTrip { name: string, wall: number, master: number, worker: number | undefined }

/** One contender's samples, per round trip: seconds of wall time, master CPU and worker CPU. */
interface Samples { wall: number[], master: number[], worker: number[] }

/**
 * Round trips of ours and of the raw pipe, each with its worker sleeping
 * or polling for input, taking turns sample by sample: their ratio is a
 * goal, and on a shared machine the load drifts between two measurements
 * taken a minute apart. Each sample also takes the CPU that the master
 * (this process) and the worker spent per round trip.
 */
async function roundTrips (gw: Gateway, sleeper: Gateway): Promise<RoundTrip[]> {
  return await inTurns([
    ['ours (our worker polls 50 µs before it sleeps, the default)', channelPinger(gw)],
    ['ours, `spin: 0` (our worker sleeps in its read)', channelPinger(sleeper)],
    ['raw pipe: line echo sleeping in readline()', rawEcho(false)],
    ['raw pipe: line echo polling 50 µs first', rawEcho(true)]
  ])
}

/**
 * The same with the master (every thread of this process) and the worker
 * on one CPU: a worker on one CPU sleeps (it never polls there, see
 * Spinner), so ours is against the raw echo sleeping. The master is pinned
 * only for these samples.
 */
async function pinnedRoundTrips (cpu: string): Promise<RoundTrip[]> {
  const gw = await Gateway.start(`popen//python=taskset -c ${cpu} ${python}`)
  const all = cpus().map((_, i) => i).join(',')
  pinMaster(cpu)
  try {
    return await inTurns([
      [`ours, master and worker pinned to CPU ${cpu} (the worker sleeps: one CPU)`, channelPinger(gw)],
      [`raw pipe: line echo sleeping in readline(), both pinned to CPU ${cpu}`, rawEcho(false, cpu)]
    ])
  } finally {
    pinMaster(all)
    await gw.terminate(10)
  }
}

/**
 * Round trips of contenders taking turns sample by sample: their ratio is a
 * goal, and on a shared machine the load drifts between two measurements
 * taken a minute apart. Each sample also takes the CPU that the master
 * (this process) and the worker spent per round trip.
 */
async function inTurns (contenders: Array<[string, Pinger]>): Promise<RoundTrip[]> {
  const samples = contenders.map((): Samples => ({ wall: [], master: [], worker: [] }))
  // one untimed sample each first: the JIT and the children warm up
  for (let r = 0; r <= REPS; r++) {
    for (const [i, [, pinger]] of contenders.entries()) {
      const w0 = cpuOf(pinger.pid)
      const m0 = masterCpu()
      const t0 = now()
      for (let p = 0; p < PINGS; p++) await pinger.ping()
      const wall = now() - t0
      const m = masterCpu() - m0
      const w1 = cpuOf(pinger.pid)
      if (r === 0) continue
      const sample = samples[i] as Samples
      sample.wall.push(wall / PINGS)
      sample.master.push(m / PINGS)
      if (w0 !== undefined && w1 !== undefined) sample.worker.push((w1 - w0) / PINGS)
    }
  }
  for (const [, pinger] of contenders) pinger.close()
  return contenders.map(([name], i) => {
    const s = samples[i] as Samples
    return { name, wall: median(s.wall), master: median(s.master), worker: s.worker.length > 0 ? median(s.worker) : undefined }
  })
}

const ms = (s?: number): string => s === undefined ? '-' : (s * 1000).toFixed(1) + ' ms'
const us = (s?: number): string => s === undefined ? '-' : (s * 1e6).toFixed(1) + ' µs'
const k = (x?: number): string => x === undefined ? '-' : Math.round(x / 1000) + 'k/s'

const version = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim()
console.log(`# bench/gateway — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${version} (${python})`)
console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; medians of ${REPS}; ${PINGS} pings; ${MESSAGES} messages each way`)
const rows: Array<[string, Row]> = []
const oursRow = await ours()
rows.push(['ours (TS master, our worker)', oursRow])
// execnet's start-up as sampled in turns with ours, not its own run's
const real = { ...execnet(), start: oursRow.execnetStart }
rows.push([`execnet ${real.version} (Python master)`, real])
rows.push(['python-shell (JSON lines)', await pythonShell()])
rows.push(['raw pipe (line echo sleeping in readline, in turns with ours)', { rtt: oursRow.rtts[2]?.wall }])
console.log('| | start-up to first receive | terminate | round trip | msgs/s to worker | msgs/s from worker |')
console.log('|---|---|---|---|---|---|')
for (const [name, r] of rows) console.log(`| ${name} | ${ms(r.start)} | ${ms(r.terminate)} | ${us(r.rtt)} | ${k(r.toWorker)} | ${k(r.fromWorker)} |`)
const o = rows[0]?.[1] as Row
const raw = rows[3]?.[1] as Row
console.log(`\nours, ${MESSAGES} messages received after all of them had arrived (a consumer that starts late): ${k(oursRow.backlog)}`)
console.log('ratios: start-up ours/execnet', ((o.start ?? 0) / (real.start ?? 1)).toFixed(2),
  '| round trip ours/raw', ((o.rtt ?? 0) / (raw.rtt ?? 1)).toFixed(2), '| execnet/raw', ((real.rtt ?? 0) / (raw.rtt ?? 1)).toFixed(2))
console.log(`\nround trips, in turns, with the CPU each costs (master: this process; worker: the child), per ping-pong:`)
console.log('| | round trip | master CPU | worker CPU | CPU, both sides |')
console.log('|---|---|---|---|---|')
for (const t of oursRow.rtts) console.log(`| ${t.name} | ${us(t.wall)} | ${us(t.master)} | ${us(t.worker)} | ${us(t.worker === undefined ? undefined : t.master + t.worker)} |`)
const [polling, sleeping, rawSleeping, rawPolling, pinned, rawPinned] = oursRow.rtts
const ratio = (a?: RoundTrip, b?: RoundTrip, key: 'wall' | 'master' | 'worker' = 'wall'): string => a?.[key] === undefined || b?.[key] === undefined ? '-' : ((a[key] as number) / (b[key] as number)).toFixed(2)
console.log('ratios ours/raw (goal <= 1.2 each): both sleeping', ratio(sleeping, rawSleeping), '| both polling', ratio(polling, rawPolling), '| both pinned', ratio(pinned, rawPinned))
console.log('CPU ratios ours/raw, master | worker: sleeping', ratio(sleeping, rawSleeping, 'master'), '|', ratio(sleeping, rawSleeping, 'worker'),
  '; polling', ratio(polling, rawPolling, 'master'), '|', ratio(polling, rawPolling, 'worker'),
  '; pinned', ratio(pinned, rawPinned, 'master'), '|', ratio(pinned, rawPinned, 'worker'))
