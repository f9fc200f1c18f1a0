/**
 * A long-lived Python process running the real execnet (oracle.py), asked
 * one JSON line at a time. One process serves a whole test file.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { repoRoot, type Interpreter } from './interpreters.js'
import type { Node } from './tree.js'

interface Answer { hex?: string, tree?: Node, error?: string, python?: string, execnet?: string }

export class OracleDumpError extends Error {}

export class Oracle {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly waiting: Array<{ resolve: (a: Answer) => void, reject: (e: Error) => void }> = []
  private stderr = ''
  private exited: Error | null = null

  constructor (readonly interpreter: Interpreter) {
    const [cmd, ...args] = interpreter.argv as [string, ...string[]]
    this.child = spawn(cmd, [...args, join(repoRoot, 'test', 'helpers', 'oracle.py')], {
      env: { ...process.env, ...interpreter.env }
    })
    this.child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000) })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const w = this.waiting.shift()
      if (w !== undefined) w.resolve(JSON.parse(line) as Answer)
    })
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`oracle ${interpreter.name} exited (${code ?? signal}): ${this.stderr}`)
      for (const w of this.waiting.splice(0)) w.reject(this.exited)
    })
  }

  private ask (request: object): Promise<Answer> {
    if (this.exited !== null) return Promise.reject(this.exited)
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.child.stdin.write(JSON.stringify(request) + '\n')
    })
  }

  /** execnet.dumps of the value the tree describes. */
  async dumps (tree: Node): Promise<Buffer> {
    const a = await this.ask({ cmd: 'dumps', tree })
    if (a.hex === undefined) throw new OracleDumpError(a.error ?? 'no answer')
    return Buffer.from(a.hex, 'hex')
  }

  /** The tree of execnet.loads(bytes, opts); throws with execnet's error text. */
  async loads (bytes: Buffer, opts: { py2str_as_py3str?: boolean, py3str_as_py2str?: boolean } = {}): Promise<Node> {
    const a = await this.ask({ cmd: 'loads', hex: bytes.toString('hex'), opts })
    if (a.tree === undefined) throw new Error(`oracle loads failed: ${a.error ?? 'no answer'}`)
    return a.tree
  }

  async info (): Promise<{ python: string, execnet: string }> {
    const a = await this.ask({ cmd: 'info' })
    if (a.python === undefined || a.execnet === undefined) throw new Error(`oracle info failed: ${a.error ?? this.stderr}`)
    return { python: a.python, execnet: a.execnet }
  }

  close (): void {
    this.child.stdin.end()
  }
}
