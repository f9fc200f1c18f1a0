"""bench/pool.ts's python-shell worker: JSON lines in, JSON lines out (a bulk
input is base64 of a float64 array's bytes)."""
import base64
import json
import sys

import numpy

for line in sys.stdin:
    x = json.loads(line)
    if isinstance(x, int):
        result = x * 2
    else:
        result = float(numpy.frombuffer(base64.b64decode(x), "<f8").sum())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
