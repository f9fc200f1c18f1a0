/**
 * A first-in first-out queue whose shift() costs the same however long it
 * is. Array#shift moves every remaining item once an array holds more than
 * about 16k of them (V8 trims the front of a smaller array in place, not of
 * one in its large-object space): a channel whose consumer had fallen 200k
 * small messages behind read them at 25k/s instead of 235k/s.
 */
export class Fifo<T> {
  private items: Array<T | undefined> = []
  private head = 0

  get length (): number {
    return this.items.length - this.head
  }

  push (item: T): void {
    this.items.push(item)
  }

  /** Put an item back in front, to be the next one shifted. */
  unshift (item: T): void {
    if (this.head > 0) this.items[--this.head] = item
    else this.items.unshift(item)
  }

  /** The oldest item, left in place; undefined when empty. */
  peek (): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  /** Take the oldest item; undefined when empty. */
  shift (): T | undefined {
    const items = this.items
    if (this.head === items.length) return undefined
    const item = items[this.head]
    items[this.head++] = undefined
    if (this.head === items.length) {
      this.reset()
    } else if (this.head >= 1024 && this.head * 2 >= items.length) {
      // the taken half goes, in one move per half: O(1) per item overall
      items.splice(0, this.head)
      this.head = 0
    }
    return item
  }

  /** Take out one item wherever it is (a linear search); false if it is not queued. */
  remove (item: T): boolean {
    const i = this.items.indexOf(item, this.head)
    if (i === -1) return false
    this.items.splice(i, 1)
    if (this.head === this.items.length) this.reset()
    return true
  }

  /** Take every item, oldest first. */
  drain (): T[] {
    const rest = this.items.slice(this.head) as T[]
    this.reset()
    return rest
  }

  /** Empty, with a fresh array: the old one may be long. */
  private reset (): void {
    this.items = []
    this.head = 0
  }
}
