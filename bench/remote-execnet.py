"""The real execnet's side of bench/remote.ts: for each spec (a JSON list in
argv[1]), start-up to the first receive and the round trip of small
ping-pongs, with a Python master. Prints one JSON object."""
import json
import sys
import time

import execnet

specs = json.loads(sys.argv[1])
REPS, PINGS = int(sys.argv[2]), int(sys.argv[3])


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


results = {}
for name, spec, via in specs:
    group = execnet.Group()
    if via:
        group.makegateway(via)
    starts = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        gw = group.makegateway(spec)
        gw.remote_exec("channel.send(1)").receive()
        starts.append(time.perf_counter() - t0)
        gw.exit()
        gw.join(10)
    gw = group.makegateway(spec)
    ch = gw.remote_exec("for x in channel:\n    channel.send(x)")
    rtts = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for i in range(PINGS):
            ch.send(i)
            ch.receive()
        rtts.append((time.perf_counter() - t0) / PINGS)
    ch.close()
    group.terminate(10)
    results[name] = {"start": median(starts), "rtt": median(rtts)}
print(json.dumps({"version": execnet.__version__, "results": results}))
