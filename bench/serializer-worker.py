# The worker's own serializer (lib/python/worker.py, the one on the path of
# every message in Python) beside the real execnet's dumps/loads and
# pickle's, on bench/serializer.ts's data sets, in this interpreter. The
# three take turns call by call; prints medians of REPS after WARMUP untimed
# rounds as a table. Run: `npm run bench:serializer-worker` (the test venv's
# Python), or `PYTHON bench/serializer-worker.py` on any interpreter the
# worker runs on (execnet's column is n/a where it is not installed).
# Kept to the Python subset of 2.7 and 3.x, as the worker is.
import os
import sys
import time

try:
    import cPickle as pickle
except ImportError:
    import pickle

try:
    import execnet
except ImportError:
    execnet = None

clock = getattr(time, "perf_counter", time.time)
REPS = int(os.environ.get("REPS", "5"))
WARMUP = int(os.environ.get("WARMUP", "2"))
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import serializer_sets  # noqa: E402 (beside this file)
worker_path = os.path.join(here, "..", "lib", "python", "worker.py")
worker = {"__name__": "execnet_worker"}
with open(worker_path) as f:
    exec(compile(f.read(), worker_path, "exec"), worker)


def median(xs):
    return sorted(xs)[len(xs) // 2]


def timed(fn, arg):
    t = clock()
    fn(arg)
    return clock() - t


sets = serializer_sets.sets()
protocol = pickle.HIGHEST_PROTOCOL
contenders = [("worker", worker["dumps"], worker["loads"])]
if execnet is not None:
    contenders.append(("execnet", execnet.dumps, execnet.loads))
contenders.append(("pickle", lambda v: pickle.dumps(v, protocol), pickle.loads))

rows = []
for name, value in sets:
    values = serializer_sets.count(value)
    row = {"name": name, "values": values}
    for op in ("dumps", "loads"):
        timers = []
        for who, dumps, loads in contenders:
            if op == "dumps":
                timers.append((who, dumps, value))
            else:
                data = dumps(value)
                row[who + " size"] = len(data)
                timers.append((who, loads, data))
        times = dict((who, []) for who, _, _ in timers)
        for r in range(WARMUP + REPS):
            for who, fn, arg in timers:
                t = timed(fn, arg)
                if r >= WARMUP:
                    times[who].append(t)
        for who in times:
            row[who + " " + op] = values / median(times[who])
    rows.append(row)

who_all = [who for who, _, _ in contenders]
print("# bench/serializer-worker - %s, Python %s (%s), execnet %s, pickle protocol %d; medians of %d after %d untimed rounds, in turns" % (
    time.strftime("%Y-%m-%d"), sys.version.split()[0], getattr(sys, "implementation", None) and sys.implementation.name or sys.platform,
    execnet.__version__ if execnet is not None else "n/a", protocol, REPS, WARMUP))
print("| data | values | " + " | ".join("%s dumps / loads Mvalues/s" % who for who in who_all) +
      " | worker vs execnet, dumps / loads | worker vs pickle, dumps / loads |")
print("|---|---|" + "---|" * len(who_all) + "---|---|")


def ratio(row, a, b):
    if (b + " dumps") not in row:
        return "n/a"
    return "%.2fx / %.2fx" % (row[a + " dumps"] / row[b + " dumps"], row[a + " loads"] / row[b + " loads"])


for row in rows:
    cells = ["%.2f / %.2f" % (row[who + " dumps"] / 1e6, row[who + " loads"] / 1e6) for who in who_all]
    print("| %s | %d | %s | %s | %s |" % (row["name"], row["values"], " | ".join(cells), ratio(row, "worker", "execnet"), ratio(row, "worker", "pickle")))
print("values: every scalar and container counts as one; ratios > 1x mean the worker is faster. The worker's dumps are unversioned (frame payloads), execnet's carry a version byte.")
