# The same three data sets as bench/serializer.ts, through the real execnet's
# dumps/loads in this interpreter, one run per command so the Node side can
# take turns with it: prints a JSON line describing the sets, then, for each
# line "<set> dumps|loads" read from stdin, the seconds that one call took.
import json
import os
import sys
import time

import execnet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serializer_sets  # noqa: E402 (beside this file)


sets = dict(serializer_sets.sets())
dumped = dict((name, execnet.dumps(value)) for name, value in sets.items())
print(json.dumps({'python': sys.version.split()[0], 'execnet': execnet.__version__,
                  'sets': dict((name, {'bytes': len(dumped[name]), 'values': serializer_sets.count(value)}) for name, value in sets.items())}))
sys.stdout.flush()
for line in sys.stdin:
    name, op = line.split()
    if op == 'dumps':
        t = time.perf_counter()
        execnet.dumps(sets[name])
    else:
        t = time.perf_counter()
        execnet.loads(dumped[name])
    print(time.perf_counter() - t)
    sys.stdout.flush()
