"""The real execnet's side of bench/cluster.ts: one fleet start-up, execnet's
Group making the gateways (one after another, as makegateway does), each
answering one receive. Prints the seconds as JSON."""
import json
import sys
import time

import execnet

specs = json.loads(sys.argv[1])
group = execnet.Group()
t0 = time.perf_counter()
for spec in specs:
    group.makegateway(spec)
for gw in group:
    gw.remote_exec("channel.send(1)").receive()
elapsed = time.perf_counter() - t0
group.terminate(10)
print(json.dumps({"version": execnet.__version__, "seconds": elapsed}))
