// What the benchmarks share: medians, a clock in seconds, and the round
// trip of small ping-pongs through a gateway.
import type { Gateway } from 'execnet'

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

export const now = (): number => performance.now() / 1000

/** Median seconds per ping-pong of `pings` small ints through an echo channel, over `reps` samples; the channel is ended after. */
export async function roundTrip (gw: Gateway, reps: number, pings: number): Promise<number> {
  const echo = gw.remoteExec('for x in channel:\n    channel.send(x)')
  const rtts: number[] = []
  for (let r = 0; r < reps; r++) {
    const t0 = now()
    for (let i = 0; i < pings; i++) {
      await echo.send(i)
      await echo.receive()
    }
    rtts.push((now() - t0) / pings)
  }
  echo.end()
  return median(rtts)
}
