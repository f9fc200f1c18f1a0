# The same three data sets as bench/serializer.ts, through the real execnet's
# dumps/loads in this interpreter, one run per command so the Node side can
# take turns with it: prints a JSON line describing the sets, then, for each
# line "<set> dumps|loads" read from stdin, the seconds that one call took.
import json
import sys
import time

import execnet


def xorshift32_bytes(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


def mixed(n):
    return [{'id': i, 'name': 'item-%d' % i, 'score': i * 0.25, 'flag': i % 3 == 0,
             'none': None, 'tags': ['alpha', 'beta', 'gamma'], 'pair': (i, 'p%d' % i),
             'nested': {'k': [i, i + 1], 's': 'x' * 10}} for i in range(n)]


def count(v):
    if isinstance(v, dict):
        return 1 + sum(count(k) + count(x) for k, x in v.items())
    if isinstance(v, (list, tuple, set, frozenset)):
        return 1 + sum(count(x) for x in v)
    return 1


blob = xorshift32_bytes(1 << 20, 0x9E3779B9)
sets = {
    'mixed': mixed(50000),
    'bytes': [blob] * 16,
    'ints': list(range(1000000)),
}
dumped = dict((name, execnet.dumps(value)) for name, value in sets.items())
print(json.dumps({'python': sys.version.split()[0], 'execnet': execnet.__version__,
                  'sets': dict((name, {'bytes': len(dumped[name]), 'values': count(value)}) for name, value in sets.items())}))
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
