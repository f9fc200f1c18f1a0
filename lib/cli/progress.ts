/**
 * A one-line progress bar on stderr for the command line: bytes done (of a
 * total, when known), rate, redrawn at most every 100 ms with '\r'. Shown
 * when stderr is a terminal, or when asked (--progress); never on stdout,
 * which carries the data. Other output for the same terminal goes through
 * print() or between pause() and resume(), so it is not drawn into the
 * bar's line.
 */
const REDRAW_MS = 100

export interface ProgressBarOptions {
  label: string
  /** Bytes expected, when known: a bar and a percentage; otherwise bytes and rate only. */
  total?: number
  stream?: NodeJS.WritableStream
  width?: number
}

export class ProgressBar {
  private readonly label: string
  private readonly total: number | undefined
  private readonly stream: NodeJS.WritableStream
  private readonly width: number
  private readonly started = Date.now()
  private lastDraw = 0
  private done = 0
  private drawn = false
  /** The bar's line is on the terminal now (drawn, not cleared since). */
  private showing = false
  private finished = false
  /** What print() got after its last newline: a line is written whole, or the bar would draw over its start. */
  private partial = ''

  constructor (options: ProgressBarOptions) {
    this.label = options.label
    this.total = options.total
    this.stream = options.stream ?? process.stderr
    this.width = options.width ?? 30
  }

  /** Set the bytes done so far; redraws when enough time passed. */
  update (done: number): void {
    this.done = done
    if (this.finished) return
    const now = Date.now()
    if (now - this.lastDraw < REDRAW_MS) return
    this.lastDraw = now
    this.draw()
  }

  /** The final state, and a newline; print() writes straight through from now on. */
  finish (): void {
    if (this.finished) return
    if (this.partial !== '') {
      this.pause()
      this.stream.write(this.partial + '\n')
      this.partial = ''
    }
    this.draw()
    if (this.drawn) this.stream.write('\n')
    this.showing = false
    this.finished = true
  }

  /**
   * Write other output (what a remote script prints) to the bar's stream
   * above the bar: its complete lines replace the bar's line, which is
   * drawn again below them; an unfinished line waits for its end (or
   * finish()).
   */
  print (chunk: string | Buffer): void {
    const text = this.partial + chunk.toString()
    if (this.finished) {
      this.partial = ''
      this.stream.write(text)
      return
    }
    const end = text.lastIndexOf('\n') + 1
    this.partial = text.slice(end)
    if (end === 0) return
    this.pause()
    this.stream.write(text.slice(0, end))
    this.resume()
  }

  /** Clear the bar's line, for output to the same terminal (another stream too); resume() draws it again. */
  pause (): void {
    if (!this.showing) return
    this.stream.write('\r\x1b[K')
    this.showing = false
  }

  /** Draw the bar again after pause(). */
  resume (): void {
    if (this.drawn && !this.finished && !this.showing) this.draw()
  }

  /** The line as drawn now (without '\r'). */
  line (): string {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001)
    const rate = `${formatBytes(this.done / seconds)}/s`
    if (this.total === undefined || this.total <= 0) return `${this.label} ${formatBytes(this.done)} ${rate}`
    const fraction = Math.min(this.done / this.total, 1)
    const filled = Math.round(fraction * this.width)
    const bar = '='.repeat(filled) + ' '.repeat(this.width - filled)
    return `${this.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(this.done)}/${formatBytes(this.total)} ${rate}`
  }

  private draw (): void {
    this.drawn = true
    this.showing = true
    this.stream.write(`\r${this.line()}\x1b[K`)
  }
}

/** Whether to show progress: --progress / --no-progress, else when stderr is a terminal. */
export function wantProgress (flags: Set<string>): boolean {
  if (flags.has('--no-progress')) return false
  if (flags.has('--progress')) return true
  return process.stderr.isTTY
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}
