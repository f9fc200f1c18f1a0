# The real execnet as a test oracle, one long-lived process per interpreter.
# Reads one JSON request per line on stdin, answers one JSON line on stdout:
#   {"cmd": "dumps", "tree": NODE}            -> {"hex": "..."} (execnet.dumps)
#   {"cmd": "loads", "hex": "...", "opts": {}} -> {"tree": NODE} (execnet.loads)
#   {"cmd": "info"}                            -> {"python": "...", "execnet": "..."}
# Errors come back as {"error": "Type: message"}. NODE is the typed tree of
# ../shared/vectors/README.md, so values cross without JSON's losses.
# Runs unchanged on Python 2.7 and 3.x.
import binascii
import json
import struct
import sys

import execnet

PY2 = sys.version_info[0] == 2
if PY2:
    text_type = unicode  # noqa: F821
    long_type = long  # noqa: F821
else:
    text_type = str
    long_type = int


def unhex(s):
    return binascii.unhexlify(s.encode('ascii'))


def tohex(b):
    return binascii.hexlify(b).decode('ascii')


def double(bits):
    return struct.unpack('>d', unhex(bits))[0]


def bits(x):
    return tohex(struct.pack('>d', x))


def build(node):
    t = node['t']
    if t == 'none':
        return None
    if t == 'bool':
        return bool(node['v'])
    if t == 'int':
        return int(node['v'])
    if t == 'long':
        return long_type(node['v'])
    if t == 'float':
        return double(node['bits'])
    if t == 'complex':
        return complex(double(node['re']), double(node['im']))
    if t in ('bytes', 'py2str'):
        return unhex(node['hex'])
    if t in ('str', 'unicode'):
        return text_type(node['v'])
    items = node['v']
    if t == 'list':
        return [build(x) for x in items]
    if t == 'tuple':
        return tuple(build(x) for x in items)
    if t == 'set':
        return set(build(x) for x in items)
    if t == 'frozenset':
        return frozenset(build(x) for x in items)
    if t == 'dict':
        d = {}
        for k, v in items:
            d[build(k)] = build(v)
        return d
    raise ValueError('unknown node type %r' % (t,))


def tree(value):
    if value is None:
        return {'t': 'none'}
    if value is True or value is False:
        return {'t': 'bool', 'v': value}
    if PY2 and type(value) is long_type:
        return {'t': 'long', 'v': str(value).rstrip('L')}
    if isinstance(value, int):
        return {'t': 'int', 'v': str(value)}
    if isinstance(value, float):
        return {'t': 'float', 'bits': bits(value), 'v': repr(value)}
    if isinstance(value, complex):
        return {'t': 'complex', 're': bits(value.real), 'im': bits(value.imag)}
    if isinstance(value, text_type):
        return {'t': 'unicode' if PY2 else 'str', 'v': value}
    if isinstance(value, bytes):
        return {'t': 'py2str' if PY2 else 'bytes', 'hex': tohex(value)}
    if isinstance(value, list):
        return {'t': 'list', 'v': [tree(x) for x in value]}
    if isinstance(value, tuple):
        return {'t': 'tuple', 'v': [tree(x) for x in value]}
    if isinstance(value, frozenset):
        return {'t': 'frozenset', 'v': [tree(x) for x in value]}
    if isinstance(value, set):
        return {'t': 'set', 'v': [tree(x) for x in value]}
    if isinstance(value, dict):
        return {'t': 'dict', 'v': [[tree(k), tree(v)] for k, v in value.items()]}
    raise TypeError('no tree for %r' % (type(value),))


def handle(req):
    cmd = req['cmd']
    if cmd == 'dumps':
        return {'hex': tohex(execnet.dumps(build(req['tree'])))}
    if cmd == 'loads':
        opts = req.get('opts') or {}
        value = execnet.loads(
            unhex(req['hex']),
            py2str_as_py3str=bool(opts.get('py2str_as_py3str')),
            py3str_as_py2str=bool(opts.get('py3str_as_py2str')),
        )
        return {'tree': tree(value)}
    if cmd == 'info':
        return {'python': sys.version.split()[0], 'execnet': execnet.__version__}
    raise ValueError('unknown command %r' % (cmd,))


def main():
    stdin = sys.stdin
    stdout = sys.stdout
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            answer = handle(json.loads(line))
        except Exception as e:
            answer = {'error': '%s: %s' % (type(e).__name__, e)}
        stdout.write(json.dumps(answer) + '\n')
        stdout.flush()


if __name__ == '__main__':
    main()
