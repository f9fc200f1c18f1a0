# The same three data sets as bench/serializer.ts, through the real execnet's
# dumps/loads, timed in this interpreter. Prints one JSON line of medians.
import json
import sys
import time

import execnet

from measure import median

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


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
result = {'python': sys.version.split()[0], 'execnet': execnet.__version__}
for name, value in sets.items():
    data = execnet.dumps(value)
    execnet.loads(data)  # untimed, as the Node side warms up
    d, l = [], []
    for _ in range(REPS):
        t = time.perf_counter()
        execnet.dumps(value)
        d.append(time.perf_counter() - t)
        t = time.perf_counter()
        execnet.loads(data)
        l.append(time.perf_counter() - t)
    result[name] = {'bytes': len(data), 'values': count(value), 'dumps': median(d), 'loads': median(l)}
print(json.dumps(result))
