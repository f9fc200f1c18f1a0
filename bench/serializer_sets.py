# bench/serializer.ts's three data sets as Python values, for the Python
# sides of that bench (serializer-execnet.py, serializer-worker.py): the
# same records, the same bytes, the same ints. Kept to the Python subset of
# 2.7 and 3.x, as the worker is.


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
    # bench/serializer.ts's mixed(), record for record
    return [{u"id": i, u"name": u"item-%d" % i, u"score": i * 0.25 + 0.125, u"flag": i % 3 == 0,
             u"none": None, u"tags": [u"alpha", u"beta", u"gamma"], u"pair": (i, u"p%d" % i),
             u"nested": {u"k": [i, i + 1], u"s": u"x" * 10}} for i in range(n)]


def count(v):
    # every scalar and container counts as one, as bench/serializer.ts counts
    if isinstance(v, dict):
        return 1 + sum(count(k) + count(x) for k, x in v.items())
    if isinstance(v, (list, tuple, set, frozenset)):
        return 1 + sum(count(x) for x in v)
    return 1


def sets():
    """(name, value) of each set, in the bench's order."""
    return [
        ("mixed", mixed(50000)),
        ("bytes", [xorshift32_bytes(1 << 20, 0x9E3779B9)] * 16),
        ("ints", list(range(1000000))),
    ]
