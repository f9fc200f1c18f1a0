"""What the Python sides of the benchmarks share: medians and the round trip
of small ping-pongs through an execnet gateway."""
import time


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def round_trip(gw, reps, pings):
    """Median seconds per ping-pong of `pings` small ints through an echo
    channel, over `reps` samples."""
    ch = gw.remote_exec("for x in channel:\n    channel.send(x)")
    rtts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(pings):
            ch.send(i)
            ch.receive()
        rtts.append((time.perf_counter() - t0) / pings)
    ch.close()
    return median(rtts)
