"""The call server: functions called by the master, their return values sent back.

Run with remoteExec, calling serve (lib/caller.ts starts it, once per
gateway and replacement) or serve_direct (lib/direct.ts: one function,
one call per message), so it needs nothing but a channel: it runs under our worker
on CPython 2.7-3.13, PyPy and Jython, and under execnet's own worker.
Everything it receives is a tuple whose first item names the operation:

  ('d', fid, source, name, filename)  define function fid: run the source
                                      in a namespace of its own (seeded
                                      with the initializer's names), take
                                      `name` from it
  ('i', fid, 'module:attr.path')      define function fid by import
  ('s', bid, source)                  the initializer: run the source in
                                      the shared namespace; answers
                                      (bid, None, error text or None)
  ('m', fid, bid, [x0, x1, ...])      call fid(x) for each x, in order
  ('M', fid, bid, code, data)         the same, the x packed in `data` as
                                      array.array(code) little-endian
                                      ('i' int32, 'd' float64): a list of
                                      plain numbers read at C speed
  ('c', fid, bid, [args0, kw0, ...])  call fid(*args, **kw) for each pair
                                      (kw None when there are none)
  ('1', fid, bid, arg0, arg1, ...)    one call of positional arguments:
                                      answered (bid, value) when it
                                      returns, as a batch when it raises
                                      (a call one after another is bound
                                      by the opcodes a message holds)

A batch ('m' or 'c') is answered once, when all of it ran, with
(bid, [value0, value1, ...], errors): errors is None, or a flat list
[index, traceback text, ...] of the calls that raised (their value is
None). When every value is a plain int in int32 range or every one a
float, and there are at least PACK_MIN, they go packed instead:
(bid, data, None, code), as in 'M'. A generator returned is drained into a list: a generator object
has no encoding, and the values it yields are what a caller means. The
server stops when the channel ends or is closed; a batch stops between
two calls once its channel was closed (the master gave it up: a timeout,
an abort), so its calls are not run twice.

USER_ERRORS_NOTE: what user code raises is caught with a bare except, less
KeyboardInterrupt (the worker's own interrupt, which must end the server):
SystemExit, Python 2's old-style class instances and Jython's Java
exceptions are no Exception, and one escaping ended the server (a pool
worker then took no more work) or the whole worker.
"""

import sys
import time
import types
from array import array

PY2 = sys.version_info[0] == 2
# Packed numbers (see the docstring): fewer values are not worth the check
PACK_MIN = 16
if PY2:
    INT_KINDS = frozenset([int, long])  # noqa: F821 (Python 2's long)
else:
    INT_KINDS = frozenset([int])
FLOAT_KINDS = frozenset([float])
BIG_ENDIAN = sys.byteorder == "big"
GENERATOR = types.GeneratorType
# calls of one argument run in chunks between two looks at the channel (is
# the batch given up?): one call at first, doubling while a chunk takes
# under CHUNK_SECONDS, so a slow function is checked after each call and a
# tiny one does not pay a look per call (a look costs more than x * 2)
CHUNK_SECONDS = 0.001
CHUNK_MAX = 1024


def unpack(code, data):
    # str(): an array's type code must be a native str on Python 2
    numbers = array(str(code))
    if PY2:
        numbers.fromstring(bytes(data))
    else:
        numbers.frombytes(data)
    if BIG_ENDIAN:
        numbers.byteswap()
    return numbers.tolist()


def pack(values):
    # bool is an int subclass, but type() tells it apart: it is not packed
    kinds = frozenset(map(type, values))
    if kinds <= INT_KINDS:
        code = "i"
    elif kinds <= FLOAT_KINDS:
        code = "d"
    else:
        return None
    try:
        numbers = array(code, values)
    except OverflowError:
        return None  # an int beyond int32: sent as it is
    if BIG_ENDIAN:
        numbers.byteswap()
    return code, (numbers.tostring() if PY2 else numbers.tobytes())


class Failure(object):
    """A function that could not be defined: each call of it fails with this text."""

    def __init__(self, text):
        self.text = text


def format_error():
    # the innermost frame first seen is this file's: the user's code follows it
    import traceback
    etype, value, tb = sys.exc_info()
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(etype, value, tb))


def run_source(code, namespace):
    # a function of its own: an exec beside nested scopes is a SyntaxError on Jython
    exec(code, namespace)


def str_keys(kwargs):
    # keyword names must be str on Python 2; ours arrive as unicode
    names = {}
    for key in kwargs:
        names[str(key)] = kwargs[key]
    return names


def invoke(fn, args, kwargs):
    # one call of fn; a generator it returns is drained (see the docstring)
    if kwargs:
        value = fn(*args, **(str_keys(kwargs) if PY2 else kwargs))
    else:
        value = fn(*args)
    if type(value) is GENERATOR:
        value = list(value)
    return value


def resolve(target):
    import importlib
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def find_dumps():
    # to find which of a batch's values cannot be sent, one by one
    try:
        from __main__ import dumps
        return dumps
    except Exception:
        pass
    try:
        from execnet.gateway_base import dumps_internal
        return dumps_internal
    except Exception:
        return None


def namespaces():
    # each call server's shared namespace (its initializer's names), by its
    # channel's id, for the direct lines of the same worker: a remote_exec's
    # globals are its own, so the table lives in the interpreter's modules
    table = sys.modules.get("__execnet_callserver_namespaces__")
    if table is None:
        table = sys.modules["__execnet_callserver_namespaces__"] = types.ModuleType("__execnet_callserver_namespaces__")
        table.by_id = {}
    return table.by_id


class Server(object):
    def __init__(self, channel):
        self.channel = channel
        self.functions = {}
        self.shared = {"__name__": "__remotefunction__"}
        namespaces()[channel.id] = self.shared

    def define(self, fid, source, name, filename):
        namespace = dict(self.shared)
        try:
            run_source(compile(source + "\n", filename or "<remote function>", "exec"), namespace)
            self.functions[fid] = namespace[name]
        except KeyboardInterrupt:
            raise
        except:  # noqa: E722, see USER_ERRORS_NOTE
            self.functions[fid] = Failure(format_error())

    def define_import(self, fid, target):
        try:
            self.functions[fid] = resolve(target)
        except KeyboardInterrupt:
            raise
        except:  # noqa: E722, see USER_ERRORS_NOTE
            self.functions[fid] = Failure(format_error())

    def setup(self, bid, source):
        error = None
        try:
            run_source(compile(source + "\n", "<initializer>", "exec"), self.shared)
        except KeyboardInterrupt:
            raise
        except:  # noqa: E722
            error = format_error()
        self.channel.send((bid, None, error))

    def batch(self, fid, bid, items, single):
        fn = self.functions.get(fid)
        channel = self.channel
        values = []
        errors = None
        count = len(items) if single else len(items) // 2
        if fn is None or isinstance(fn, Failure):
            text = "function %r is not defined" % (fid,) if fn is None else fn.text
            errors = []
            for i in range(count):
                values.append(None)
                errors.append(i)
                errors.append(text)
            self.reply(bid, values, errors)
            return
        if single:
            errors = self.call_each(fn, items, values)
            if errors is False:
                return
            self.reply(bid, values, errors)
            return
        for i in range(count):
            if channel.isclosed():
                return
            try:
                value = invoke(fn, items[2 * i], items[2 * i + 1])
            except KeyboardInterrupt:
                raise
            except:  # noqa: E722, see USER_ERRORS_NOTE
                value = None
                if errors is None:
                    errors = []
                errors.append(i)
                errors.append(format_error())
            values.append(value)
        self.reply(bid, values, errors)

    def call_one(self, fid, bid, args):
        fn = self.functions.get(fid)
        if fn is None or isinstance(fn, Failure) or self.channel.isclosed():
            self.batch(fid, bid, [list(args), None], False)
            return
        try:
            value = invoke(fn, args, None)
        except KeyboardInterrupt:
            raise
        except:  # noqa: E722, see USER_ERRORS_NOTE
            self.reply(bid, [None], [0, format_error()])
            return
        try:
            self.channel.send((bid, value))
        except Exception:
            if not self.channel.isclosed():
                self.reply(bid, [value], None)  # finds why it cannot be sent

    def call_each(self, fn, items, values):
        # fn(x) for each x into values; the errors list (or None), or False
        # when the channel closed meanwhile. The try is around a chunk, not
        # each call: the call that raised is the one after the last value.
        channel = self.channel
        append = values.append
        clock = time.time
        errors = None
        n = len(items)
        i = 0
        chunk = 1
        while i < n:
            if channel.isclosed():
                return False
            end = min(n, i + chunk)
            started = clock()
            try:
                for x in items[i:end]:
                    value = fn(x)
                    if type(value) is GENERATOR:
                        value = list(value)
                    append(value)
            except KeyboardInterrupt:
                raise
            except:  # noqa: E722, see USER_ERRORS_NOTE
                at = len(values)
                append(None)
                if errors is None:
                    errors = []
                errors.append(at)
                errors.append(format_error())
                i = at + 1
                continue
            i = end
            if chunk < CHUNK_MAX and clock() - started < CHUNK_SECONDS:
                chunk *= 2
        return errors

    def reply(self, bid, values, errors):
        channel = self.channel
        if errors is None and len(values) >= PACK_MIN:
            packed = pack(values)
            if packed is not None:
                channel.send((bid, packed[1], None, packed[0]))
                return
        try:
            channel.send((bid, values, errors))
            return
        except Exception:
            if channel.isclosed():
                return
            reason = sys.exc_info()[1]
        # some value has no encoding: find which, and send the rest
        dumps = find_dumps()
        errors = list(errors or [])
        for i in range(len(values)):
            value = values[i]
            problem = reason
            if dumps is not None:
                problem = None
                try:
                    dumps(value)
                except Exception:
                    problem = sys.exc_info()[1]
                    # numpy scalars (numpy.int64...) mean their Python value
                    if getattr(value, "shape", None) == () and hasattr(value, "item"):
                        try:
                            dumps(value.item())
                            values[i] = value.item()
                            problem = None
                        except Exception:
                            pass
            if problem is not None:
                values[i] = None
                errors.append(i)
                errors.append("TypeError: %s\n" % unsendable(value, problem))
        channel.send((bid, values, errors or None))

    def serve(self):
        for message in self.channel:
            op = message[0]
            if op == "m":
                self.batch(message[1], message[2], message[3], True)
            elif op == "1":
                self.call_one(message[1], message[2], message[3:])
            elif op == "M":
                self.batch(message[1], message[2], unpack(message[3], message[4]), True)
            elif op == "c":
                self.batch(message[1], message[2], message[3], False)
            elif op == "d":
                self.define(message[1], message[2], message[3], message[4])
            elif op == "i":
                self.define_import(message[1], message[2])
            elif op == "s":
                self.setup(message[1], message[2])
            else:
                raise ValueError("call server: unknown operation %r" % (op,))


def unsendable(value, reason):
    # the message of the TypeError a value without an encoding is
    return "the %s returned cannot be sent: %s" % (type(value).__name__, reason)


def serve(channel):
    try:
        Server(channel).serve()
    finally:
        # a call server retired (a timeout) leaves no namespace behind; its
        # lines copied theirs when they started
        namespaces().pop(channel.id, None)


def serve_direct(channel, kind, what, name=None, filename=None, shared=None):
    """One function on a channel of its own, one call per message: the
    message is its one argument, the reply the value it returned, bare, as a
    channel ping-pong (a call one after another is bound by the opcodes a
    message holds, and these have none beside the values). The replies come
    in the order of the calls, so nothing names a call. An exception, or a
    value that cannot be sent, ends this execution with it (the channel
    closes with its traceback): the master rejects the call it belongs to,
    and sends the calls it sent after it again, on a fresh channel (they were
    never run: nothing is read from a closed channel). `shared`: the id of
    the call server (its channel's) whose initializer's names the function
    starts from."""
    if kind == "source":
        # a pool's function starts from its initializer's names, as on the call server
        namespace = dict(namespaces().get(shared) or {"__name__": "__remotefunction__"})
        run_source(compile(what + "\n", filename or "<remote function>", "exec"), namespace)
        fn = namespace[name]
    else:
        fn = resolve(what)
    for x in channel:
        value = fn(x)
        if type(value) is GENERATOR:
            value = list(value)
        try:
            channel.send(value)
            continue
        except Exception:
            if channel.isclosed():
                return
            reason = sys.exc_info()[1]
        # numpy scalars (numpy.int64...) mean their Python value
        if getattr(value, "shape", None) == () and hasattr(value, "item"):
            try:
                channel.send(value.item())
                continue
            except Exception:
                pass
        raise TypeError(unsendable(value, reason))
