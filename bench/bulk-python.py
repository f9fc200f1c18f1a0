"""The Python sides of bench/bulk.ts, in one file:

  bulk-python.py execnet REPS TOTAL PYTHON   real execnet: a Python master
      driving an execnet worker, the same transfers as ours; prints JSON
  bulk-python.py raw-in CHUNK                the raw limit, Node -> Python:
      reads stdin with readinto, numpy-sums each chunk, prints the count
  bulk-python.py raw-out CHUNK COUNT         the raw limit, Python -> Node:
      numpy-sums and writes the same chunk COUNT times to stdout

Peak RSS is VmHWM, reset (clear_refs) at the start of each transfer."""
import json
import os
import re
import sys
import time

import numpy

from measure import median

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUME = open(os.path.join(HERE, "bulk-consume.py")).read()
PRODUCE = open(os.path.join(HERE, "bulk-produce.py")).read()


def hwm():
    with open('/proc/self/status') as f:
        return int(re.search(r'VmHWM:\s+(\d+) kB', f.read()).group(1)) * 1024


def reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def execnet_side(reps, total, python):
    import execnet
    gw = execnet.makegateway("popen//python=" + python)
    rows = {}
    for direction, chunk, sleep in CASES:
        count = total // chunk if not sleep else SLOW_TOTAL // chunk
        rates, mpeaks, wpeaks = [], [], []
        for rep in range(2 if sleep else reps + 1):
            data = numpy.ones(chunk, 'u1').tobytes()
            reset_peak()
            mstart = hwm()
            if direction == "to":
                ch = gw.remote_exec(CONSUME)
                ch.send(sleep)
                t0 = time.perf_counter()
                for _ in range(count):
                    ch.send(data)
                ch.send(None)
                n, _total, wstart, wpeak = ch.receive()
                assert n == count * chunk
            else:
                ch = gw.remote_exec(PRODUCE)
                ch.send((chunk, count))
                t0 = time.perf_counter()
                n = 0
                for _ in range(count):
                    n += len(ch.receive())
                wstart, wpeak = ch.receive()
                assert n == count * chunk
            elapsed = time.perf_counter() - t0
            ch.waitclose()
            mpeaks.append(hwm() - mstart)  # the warm-up's too, as on our side
            wpeaks.append(wpeak - wstart)
            if rep > 0:
                rates.append(n / elapsed)
        rows["%s/%d/%s" % (direction, chunk, sleep)] = {"rate": median(rates), "masterPeak": max(mpeaks), "workerPeak": max(wpeaks)}
    gw.exit()
    execnet.default_group.terminate(10)
    print(json.dumps({"version": execnet.__version__, "rows": rows}))


def raw_in(chunk):
    buf = bytearray(chunk)
    view = memoryview(buf)
    f = open(0, 'rb', buffering=0, closefd=False)
    n = total = 0
    while True:
        got = 0
        while got < chunk:
            k = f.readinto(view[got:])
            if not k:
                break
            got += k
        if got == 0:
            break
        total += int(numpy.frombuffer(buf, 'u1', got).sum())
        n += got
        if got < chunk:
            break
    sys.stdout.write("%d %d\n" % (n, hwm()))


def raw_out(chunk, count):
    data = numpy.ones(chunk, 'u1').tobytes()
    out = open(1, 'wb', buffering=0, closefd=False)
    for _ in range(count):
        int(numpy.frombuffer(data, 'u1').sum())
        view = memoryview(data)
        while view:
            view = view[out.write(view):]


CASES = json.loads(sys.argv[-1]) if sys.argv[1] == "execnet" else []
SLOW_TOTAL = 256 << 20

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "execnet":
        execnet_side(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif mode == "raw-in":
        raw_in(int(sys.argv[2]))
    elif mode == "raw-out":
        raw_out(int(sys.argv[2]), int(sys.argv[3]))
