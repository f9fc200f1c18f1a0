"""The real execnet's side of bench/gateway.ts: a Python master driving an
execnet worker on the same interpreter. Prints one JSON object."""
import json
import sys
import time

import execnet

from measure import median, round_trip

if sys.argv[1] == "starts":
    # one start-up per line read, its seconds printed: bench/gateway.ts
    # takes turns with its own start-ups, so the ratio sees the same load
    spec = "popen//python=" + sys.argv[2]
    for _ in iter(sys.stdin.readline, ""):
        t0 = time.perf_counter()
        gw = execnet.makegateway(spec)
        gw.remote_exec("channel.send(1)").receive()
        took = time.perf_counter() - t0
        gw.exit()
        execnet.default_group.terminate(10)
        sys.stdout.write("%r\n" % took)
        sys.stdout.flush()
    sys.exit(0)

REPS, PINGS, MESSAGES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
python = sys.argv[4]
spec = "popen//python=" + python


starts, terms = [], []
for _ in range(REPS):
    t0 = time.perf_counter()
    gw = execnet.makegateway(spec)
    gw.remote_exec("channel.send(1)").receive()
    starts.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    gw.exit()
    execnet.default_group.terminate(10)
    terms.append(time.perf_counter() - t0)

gw = execnet.makegateway(spec)
rtt = round_trip(gw, REPS, PINGS)

to_worker, from_worker = [], []
for _ in range(REPS):
    ch = gw.remote_exec("n = 0\nwhile channel.receive() is not None:\n    n += 1\nchannel.send(n)")
    t0 = time.perf_counter()
    for i in range(MESSAGES):
        ch.send(i)
    ch.send(None)
    assert ch.receive() == MESSAGES
    to_worker.append(MESSAGES / (time.perf_counter() - t0))
    ch = gw.remote_exec("for i in range(%d):\n    channel.send(i)" % MESSAGES)
    t0 = time.perf_counter()
    for i in range(MESSAGES):
        ch.receive()
    from_worker.append(MESSAGES / (time.perf_counter() - t0))
gw.exit()
execnet.default_group.terminate(10)
print(json.dumps({
    "version": execnet.__version__,
    "start": median(starts), "terminate": median(terms), "rtt": rtt,
    "toWorker": median(to_worker), "fromWorker": median(from_worker),
}))
