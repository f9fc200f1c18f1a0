"""The real execnet's side of bench/remote.ts: for each spec (a JSON list in
argv[1]), start-up to the first receive and the round trip of small
ping-pongs, with a Python master. Prints one JSON object."""
import json
import sys
import time

import execnet

from measure import median, round_trip

specs = json.loads(sys.argv[1])
REPS, PINGS = int(sys.argv[2]), int(sys.argv[3])


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
    rtt = round_trip(group.makegateway(spec), REPS, PINGS)
    group.terminate(10)
    results[name] = {"start": median(starts), "rtt": rtt}
print(json.dumps({"version": execnet.__version__, "results": results}))
