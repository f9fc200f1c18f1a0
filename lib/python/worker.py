# -*- coding: ascii -*-
"""The remote side of execnet for TypeScript.

This file is sent over the interpreter's stdin at bootstrap and runs there
with nothing installed, on CPython 2.7 and 3.6+, PyPy and Jython 2.7. It
speaks execnet's wire protocol: frames with a 9-byte header (!bii: message
code, channel id, payload length) whose payloads are unversioned execnet
dumps. Remote code sees a `channel` global with execnet's Channel API, so
code written for execnet runs unchanged.

Where it differs from execnet's gateway_base.py, on purpose:
- what remote code prints goes to stderr (the master shows it) instead of
  being thrown away in /dev/null;
- a channel half-closed by the master (CHANNEL_LAST_MESSAGE) still reports
  its own close when its code finishes, so the master's side can end;
- ints outside int32 are written as long ints both ways instead of failing;
- flow control, when the master asks for it at bootstrap: each channel has
  a window of bytes per direction, granted back (CHANNEL_CREDIT) as the
  receiver consumes, so a fast sender cannot fill a slow receiver's memory.
- a receive() that has read all there was polls its input for a while
  (the master's `spin`, 50 us by default) before it sleeps in a read: a
  sleeping reader's wake-up was half a small round trip.

The file is ASCII and keeps to the subset of Python shared by 2.7 and 3.x.
One file, as it is sent as one source string; its parts, in order: the
threads section (Lock, RLock, Condition, Event, start_thread); the
serializer (opcode table OP_*, dumps, loads); Channel, its Items and Flow;
Pipe; Output (send path, flusher and writer threads); Input (the reading
role, its Spinner polling before a read sleeps and its ReadAhead policy,
with clock and probes as parameters); Flows (windows, grants); Channels
(the table, callbacks, delivery); Execution (main thread, pool,
ExecModel); WorkerGateway, which wires them and dispatches frames through
a table (code -> handler); main(). Threads: the main thread and pool
threads run code; Input's receiver thread reads when no receive() does;
Output's flusher and writer threads.

Lock order: the channel table's receive lock (reentrant, held while a
frame is acted on; callbacks run user code under it) first. Every other
lock is a leaf, never held while taking another: Output's send lock,
Flows' credit lock, Input's read lock, the channel table's lock,
Execution's lock, each Items' lock.
"""

import io
import os
import sys
import time

# Start-up imports only what the interpreter has already loaded or what is
# written in C: the threading, weakref and array modules, with the
# collections module that threading and array bring, were 3.5-4.5 ms of a
# worker's 12 ms to its ready byte on CPython 3.11. struct.py and
# collections only re-export _struct and _collections' deque; the threads
# section below has what the gateway needs of threading.
try:
    import _struct as struct
except ImportError:
    import struct  # Jython
try:
    from _collections import deque
except ImportError:
    from collections import deque

# weakref: once the ready byte is out (import_late), while the master
# answers it. array: at the first list of ints (_int32_array).
weakref = None

PY2 = sys.version_info[0] == 2
JYTHON = sys.platform.startswith("java")

if PY2:
    from thread import get_ident
    text_type = unicode  # noqa: F821 (Python 2 only)
    long_type = long  # noqa: F821
    bytes_types = (str, bytearray, memoryview)
else:
    from _thread import get_ident
    text_type = str
    long_type = int
    bytes_types = (bytes, bytearray, memoryview)

# What user code may raise. On Jython a Java exception (parseInt of "x") is
# no Python BaseException: caught as one, it escaped and killed the worker.
if JYTHON:
    from java.lang import Throwable as JavaThrowable
    USER_ERRORS = (Exception, JavaThrowable)
    ANY_ERROR = (BaseException, JavaThrowable)
else:
    USER_ERRORS = (Exception,)
    ANY_ERROR = (BaseException,)

DEBUG = os.environ.get("EXECNET_DEBUG")


def trace(*parts):
    if DEBUG:
        try:
            sys.stderr.write("[worker %d] %s\n" % (os.getpid(), " ".join(str(p) for p in parts)))
            sys.stderr.flush()
        except Exception:
            pass  # tracing must never break the worker, even at shutdown


# ---------------------------------------------------------------------------
# Threads: the locks, conditions, events and daemon threads the gateway uses.
# ---------------------------------------------------------------------------
# threading imports functools, and with it collections: 2.5 ms of a CPython
# worker's start-up, for what is a few lines on _thread. But threading takes
# the thread that first imports it for the main thread, up to CPython 3.12:
# user code importing it first in one of our pool threads would break
# threading.main_thread() and current_thread() in the main thread. So where
# _thread tells threading the main thread's ident (CPython 3.13 on), the
# primitives are built here as threading builds them, and threads started
# as execnet's worker starts them, with _thread; elsewhere threading's own
# are used, imported by the main thread once the ready byte is out
# (import_late). What user code asks for (execmodel.RLock(), Event()...) is
# threading's.

try:
    import _thread
    _thread._get_main_thread_ident
except (ImportError, AttributeError):
    _thread = None

if _thread is not None:
    Lock = _thread.allocate_lock
    RLock = _thread.RLock

    class Condition(object):
        """threading.Condition's wait(), notify() and notify_all(), on a
        Lock (ours are never re-entered under a condition). A waiter that
        was notified returns True even when its timeout ran out meanwhile:
        a notify() is never spent on a waiter that then reports a timeout."""

        __slots__ = ("_lock", "_waiters")

        def __init__(self, lock):
            self._lock = lock
            self._waiters = deque()

        def __enter__(self):
            self._lock.acquire()
            return self

        def __exit__(self, *exc_info):
            self._lock.release()

        def wait(self, timeout=None):
            waiter = Lock()
            waiter.acquire()
            self._waiters.append(waiter)
            self._lock.release()
            notified = False
            try:
                if timeout is None:
                    notified = waiter.acquire()
                elif timeout > 0:
                    notified = waiter.acquire(True, timeout)
                else:
                    notified = waiter.acquire(False)
            finally:
                self._lock.acquire()
                if not notified:
                    # a notify() between the timeout (or an interrupt) and
                    # the lock released the waiter and took it off the list
                    notified = waiter.acquire(False)
                    if not notified:
                        try:
                            self._waiters.remove(waiter)
                        except ValueError:
                            pass
            return notified

        def notify(self, n=1):
            waiters = self._waiters
            while waiters and n > 0:
                waiters.popleft().release()
                n -= 1

        def notify_all(self):
            self.notify(len(self._waiters))

    class Event(object):
        """threading.Event."""

        __slots__ = ("_cond", "_flag")

        def __init__(self):
            self._cond = Condition(Lock())
            self._flag = False

        def is_set(self):
            return self._flag

        def set(self):
            with self._cond:
                self._flag = True
                self._cond.notify_all()

        def clear(self):
            with self._cond:
                self._flag = False

        def wait(self, timeout=None):
            with self._cond:
                if not self._flag:
                    self._cond.wait(timeout)
                return self._flag

    def start_thread(target, args=()):
        _thread.start_new_thread(target, args)
else:
    Lock = RLock = Condition = Event = start_thread = None  # threading's: import_late


def _threading_start(target, args=()):
    import threading
    thread = threading.Thread(target=target, args=args)
    thread.daemon = True
    thread.start()


# ---------------------------------------------------------------------------
# Serializer: execnet's opcodes, unversioned as inside frames.
# ---------------------------------------------------------------------------

class DataFormatError(Exception):
    pass


class DumpError(DataFormatError):
    """A value that has no execnet encoding."""


class LoadError(DataFormatError):
    """Bytes that are not an execnet dump."""


# execnet's opcodes, named as in its gateway_base.opcode: the one table
# of them. Read as module globals: bound as default arguments instead,
# loads ran 12% slower on PyPy
OP_BUILDTUPLE = b"@"
OP_BYTES = b"A"
OP_CHANNEL = b"B"
OP_FALSE = b"C"
OP_FLOAT = b"D"
OP_FROZENSET = b"E"
OP_INT = b"F"
OP_LONG = b"G"
OP_LONGINT = b"H"
OP_LONGLONG = b"I"
OP_NEWDICT = b"J"
OP_NEWLIST = b"K"
OP_NONE = b"L"
OP_PY2STRING = b"M"
OP_PY3STRING = b"N"
OP_SET = b"O"
OP_SETITEM = b"P"
OP_STOP = b"Q"
OP_TRUE = b"R"
OP_UNICODE = b"S"
OP_COMPLEX = b"T"
# the opcodes followed by a length-prefixed byte run: strings, bytes, and
# long ints as decimal text
SIZED_OPS = OP_PY3STRING + OP_UNICODE + OP_PY2STRING + OP_BYTES + OP_LONGINT + OP_LONGLONG

INT4 = struct.Struct("!i")
SMALL_INT = struct.Struct("!cic")  # F, the int, STOP: a whole dump
INT_FRAME = struct.Struct("!biicic")  # a frame's header and such a dump
TEXT_OP = OP_UNICODE if PY2 else OP_PY3STRING  # text: unicode on Python 2, str on 3
FLOAT = struct.Struct("!d")
COMPLEX = struct.Struct("!dd")
HEADER = struct.Struct("!bii")
INT32_MIN = -2147483648
INT32_MAX = 2147483647
OP_HEAD = struct.Struct("!ci")  # an opcode and its int4
INT_ITEM = struct.Struct("!cicic")  # a list item that is an int: F index, F value, SETITEM
# A list of int32s is packed whole, lane by lane of its 11-byte items (F,
# index, F, value, P) through C-level slices of arrays: on CPython 3.11,
# 1M ints dumped 8x and loaded 10x faster than item by item. Only where the
# array type holds 4-byte ints (all the interpreters here).
PACKED_MIN = 16
ITEM_PATTERN = OP_INT + b"\0\0\0\0" + OP_INT + b"\0\0\0\0" + OP_SETITEM
INT_ONLY = set([int])
LITTLE_ENDIAN = sys.byteorder == "little"
_int32 = []  # [array's type, or None where array('i') is not 4 bytes], at the first list


def _int32_array():
    """array's type for int32s, or None: the array module is imported at the
    first list long enough to pack (see the imports)."""
    if not _int32:
        import array
        _int32.append(array.array if array.array("i").itemsize == 4 else None)
    return _int32[0]


def _int32_bytes(ints):
    # big-endian int32s of an array('i')
    if LITTLE_ENDIAN:
        ints.byteswap()
    return ints.tostring() if PY2 else ints.tobytes()


def _packed_int_items(obj):
    """The items of a list of int32s (exactly int, no bool) as their
    dump, or None."""
    array = _int32_array()
    if array is None or set(map(type, obj)) != INT_ONLY:
        return None
    try:
        values = array("i", obj)
    except OverflowError:
        return None
    n = len(obj)
    index = _int32_bytes(array("i", range(n)))
    values = _int32_bytes(values)
    out = bytearray(ITEM_PATTERN * n)
    for k in range(4):
        out[1 + k::11] = index[k::4]
        out[6 + k::11] = values[k::4]
    return bytes(out)


def _unpacked_int_items(data, pos, n):
    """A list of n int32s from their items at data[pos:], if that is what
    the data holds there, else None."""
    array = _int32_array()
    items = data[pos:pos + 11 * n]
    if array is None or len(items) != 11 * n or items[0::11] != OP_INT * n or items[5::11] != OP_INT * n or items[10::11] != OP_SETITEM * n:
        return None
    lanes = bytearray(4 * n)
    for k in range(4):
        lanes[k::4] = items[1 + k::11]
    if bytes(lanes) != _int32_bytes(array("i", range(n))):
        return None
    for k in range(4):
        lanes[k::4] = items[6 + k::11]
    values = array("i")
    if LITTLE_ENDIAN:
        values.fromstring(bytes(lanes)) if PY2 else values.frombytes(bytes(lanes))
        values.byteswap()
    else:
        values.fromstring(bytes(lanes)) if PY2 else values.frombytes(bytes(lanes))
    return values.tolist()


def dumps(obj, pack_small_int=SMALL_INT.pack):
    # the most common messages of all, a small int or a string, without
    # the saver loop
    kind = type(obj)
    if kind is int and INT32_MIN <= obj <= INT32_MAX:
        return pack_small_int(OP_INT, obj, OP_STOP)
    if kind is text_type:
        data = _utf8(obj)
        if len(data) <= INT32_MAX:
            return TEXT_OP + INT4.pack(len(data)) + data + OP_STOP
    out = []
    _save(obj, out.append)
    out.append(OP_STOP)
    return b"".join(out)


def _save(obj, write):
    saver = SAVERS.get(type(obj))
    if saver is None:
        saver = _saver_for_subclass(obj)
    saver(obj, write)


def _saver_for_subclass(obj):
    # execnet refuses subclasses (numpy.float64, IntEnum...); their base
    # type's encoding is what a user means.
    for base, saver in SAVER_ORDER:
        if isinstance(obj, base):
            return saver
    if isinstance(obj, Channel):
        return _save_channel
    raise DumpError("can't serialize %r" % (type(obj),))


def _save_none(obj, write):
    write(OP_NONE)


def _save_bool(obj, write):
    write(OP_TRUE if obj else OP_FALSE)


def _save_int4(op, n, write):
    write(op)
    write(INT4.pack(n))


def _save_sized(op, data, write):
    if len(data) > INT32_MAX:
        raise DumpError("string is too long")
    write(op)
    write(INT4.pack(len(data)))
    write(data)


def _save_int(obj, write):
    if INT32_MIN <= obj <= INT32_MAX:
        _save_int4(OP_INT, obj, write)
    else:
        _save_sized(OP_LONGINT, str(int(obj)).rstrip("L").encode("ascii"), write)


def _save_long(obj, write):
    # Python 2 only: longs keep their own opcodes so a Python 2 reader
    # gets a long back.
    if INT32_MIN <= obj <= INT32_MAX:
        _save_int4(OP_LONG, obj, write)
    else:
        _save_sized(OP_LONGLONG, str(obj).rstrip("L").encode("ascii"), write)


def _save_float(obj, write):
    write(OP_FLOAT)
    write(FLOAT.pack(obj))


def _save_complex(obj, write):
    write(OP_COMPLEX)
    write(COMPLEX.pack(obj.real, obj.imag))


def _save_bytes(obj, write):
    _save_sized(OP_BYTES, bytes(obj) if not isinstance(obj, bytes) else obj, write)


def _save_py2str(obj, write):
    _save_sized(OP_PY2STRING, obj, write)


def _utf8(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise DumpError("strings must be utf-8 encodable")


def _save_text(obj, write):
    _save_sized(TEXT_OP, _utf8(obj), write)


def _save_list(obj, write, pack_head=OP_HEAD.pack, pack_int_item=INT_ITEM.pack):
    n = len(obj)
    write(pack_head(OP_NEWLIST, n))
    if n >= PACKED_MIN:
        packed = _packed_int_items(obj)
        if packed is not None:
            write(packed)
            return
    # the commonest items, str and int, inline; a saver call for the rest
    try:
        for i, item in enumerate(obj):
            kind = type(item)
            if kind is text_type:
                data = item.encode("utf-8")
                if len(data) > INT32_MAX:
                    raise DumpError("string is too long")
                write(pack_head(OP_INT, i))
                write(pack_head(TEXT_OP, len(data)))
                write(data)
                write(OP_SETITEM)
            elif kind is int and INT32_MIN <= item <= INT32_MAX:
                write(pack_int_item(OP_INT, i, OP_INT, item, OP_SETITEM))
            else:
                write(pack_head(OP_INT, i))
                _save(item, write)
                write(OP_SETITEM)
    except UnicodeEncodeError:
        raise DumpError("strings must be utf-8 encodable")


def _save_dict(obj, write, pack_head=OP_HEAD.pack):
    write(OP_NEWDICT)
    # str keys and str or int values inline; a saver call for the rest
    try:
        for key, value in obj.items():
            if type(key) is text_type:
                data = key.encode("utf-8")
                if len(data) > INT32_MAX:
                    raise DumpError("string is too long")
                write(pack_head(TEXT_OP, len(data)))
                write(data)
            else:
                _save(key, write)
            kind = type(value)
            if kind is text_type:
                data = value.encode("utf-8")
                if len(data) > INT32_MAX:
                    raise DumpError("string is too long")
                write(pack_head(TEXT_OP, len(data)))
                write(data)
            elif kind is int and INT32_MIN <= value <= INT32_MAX:
                write(pack_head(OP_INT, value))
            else:
                _save(value, write)
            write(OP_SETITEM)
    except UnicodeEncodeError:
        raise DumpError("strings must be utf-8 encodable")


def _save_tuple(obj, write):
    for item in obj:
        _save(item, write)
    _save_int4(OP_BUILDTUPLE, len(obj), write)


def _save_set(obj, write):
    for item in obj:
        _save(item, write)
    _save_int4(OP_FROZENSET if isinstance(obj, frozenset) else OP_SET, len(obj), write)


def _save_channel(obj, write):
    _save_int4(OP_CHANNEL, obj.id, write)


SAVERS = {
    type(None): _save_none,
    bool: _save_bool,
    int: _save_int,
    float: _save_float,
    complex: _save_complex,
    text_type: _save_text,
    list: _save_list,
    dict: _save_dict,
    tuple: _save_tuple,
    set: _save_set,
    frozenset: _save_set,
    bytearray: _save_bytes,
    memoryview: _save_bytes,
}
if PY2:
    SAVERS[long_type] = _save_long
    SAVERS[str] = _save_py2str
else:
    SAVERS[bytes] = _save_bytes
# bool before int: bool is an int subclass
SAVER_ORDER = [(bool, _save_bool), (text_type, _save_text)]
if PY2:
    SAVER_ORDER += [(str, _save_py2str), (long_type, _save_long)]
else:
    SAVER_ORDER += [(bytes, _save_bytes)]
SAVER_ORDER += [
    (int, _save_int), (float, _save_float), (complex, _save_complex),
    (list, _save_list), (dict, _save_dict), (tuple, _save_tuple),
    (frozenset, _save_set), (set, _save_set), (bytearray, _save_bytes),
]


def loads(data, strconfig=(True, False), channel_factory=None):
    """Read one unversioned dump. strconfig is execnet's pair
    (py2str_as_py3str, py3str_as_py2str)."""
    try:
        return _load(data, strconfig, channel_factory)
    except (IndexError, KeyError, TypeError, ValueError, struct.error):
        raise LoadError("malformed execnet data: %s" % (sys.exc_info()[1],))


def _scalar_run(data, pos, end, container, i, n, text_ops, unpack_int4=INT4.unpack_from, unpack_float=FLOAT.unpack_from):
    """At pos, maybe a run of simple entries for container, taken in one
    loop instead of three trips through _load's (a scalar and SETITEM
    each, after the list's next index i of n, or a str key for a dict).
    Returns where the run ends; anything else, or anything wrong, is left
    to _load, which reports it."""
    is_list = n >= 0
    while True:
        if is_list:
            if i >= n or data[pos:pos + 1] != OP_INT or unpack_int4(data, pos + 1)[0] != i:
                return pos
            at = pos + 5
        else:
            if data[pos:pos + 1] not in text_ops:
                return pos
            m = unpack_int4(data, pos + 1)[0]
            at = pos + 5 + m
            if m < 0 or at >= end:
                return pos
        op = data[at:at + 1]
        if op == OP_INT:
            value = unpack_int4(data, at + 1)[0]
            after = at + 5
        elif op in text_ops:
            m = unpack_int4(data, at + 1)[0]
            after = at + 5 + m
            if m < 0 or after >= end:
                return pos
            value = data[at + 5:after].decode("utf-8")
        elif op == OP_FLOAT:
            value = unpack_float(data, at + 1)[0]
            after = at + 9
        elif op == OP_NONE:
            value = None
            after = at + 1
        elif op == OP_TRUE:
            value = True
            after = at + 1
        elif op == OP_FALSE:
            value = False
            after = at + 1
        else:
            return pos
        if data[after:after + 1] != OP_SETITEM:
            return pos
        if is_list:
            container[i] = value
            i += 1
        else:
            container[data[pos + 5:at].decode("utf-8")] = value
        pos = after + 1


def _load(data, strconfig, channel_factory, unpack_int4=INT4.unpack_from):
    end = len(data)
    # the most common message of all, a small int, without the loop
    if end == 6 and data[5:6] == OP_STOP and data[0:1] == OP_INT:
        return unpack_int4(data, 1)[0]
    py2str_as_py3str, py3str_as_py2str = strconfig
    # the opcodes of str read as text: what _scalar_run may take
    text_ops = (OP_UNICODE,) if py3str_as_py2str else (OP_PY3STRING, OP_UNICODE)
    stack = []
    push = stack.append
    pos = 0
    while pos < end:
        op = data[pos:pos + 1]
        pos += 1
        if op == OP_INT or op == OP_LONG:
            n = unpack_int4(data, pos)[0]
            pos += 4
            push(long_type(n) if PY2 and op == OP_LONG else n)
        elif op == OP_SETITEM:
            value = stack.pop()
            key = stack.pop()
            container = stack[-1]
            container[key] = value
            kind = type(container)
            if kind is list:
                pos = _scalar_run(data, pos, end, container, key + 1, len(container), text_ops)
            elif kind is dict:
                pos = _scalar_run(data, pos, end, container, 0, -1, text_ops)
        elif op == OP_PY3STRING and not py3str_as_py2str:
            # the commonest sized op first, without the chain below
            n = unpack_int4(data, pos)[0]
            pos += 4
            if n < 0 or pos + n > end:
                raise LoadError("%r length %d beyond the data" % (op, n))
            push(data[pos:pos + n].decode("utf-8"))
            pos += n
        elif op == OP_NEWDICT:
            items = {}
            push(items)
            pos = _scalar_run(data, pos, end, items, 0, -1, text_ops)
        elif op == OP_NEWLIST:
            n = unpack_int4(data, pos)[0]
            pos += 4
            if n < 0 or n > end:
                raise LoadError("list length %d beyond the data" % n)
            items = _unpacked_int_items(data, pos, n) if n >= PACKED_MIN and data[pos + 10:pos + 11] == OP_SETITEM else None
            if items is None:
                items = [None] * n
                push(items)
                pos = _scalar_run(data, pos, end, items, 0, n, text_ops)
            else:
                push(items)
                pos += 11 * n
        elif op == OP_BUILDTUPLE or op == OP_SET or op == OP_FROZENSET:
            n = unpack_int4(data, pos)[0]
            pos += 4
            if n < 0 or n > len(stack):
                raise LoadError("collection of %d items, %d on the stack" % (n, len(stack)))
            items = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            push(tuple(items) if op == OP_BUILDTUPLE else set(items) if op == OP_SET else frozenset(items))
        elif op == OP_NONE:
            push(None)
        elif op == OP_TRUE:
            push(True)
        elif op == OP_FALSE:
            push(False)
        elif op == OP_FLOAT:
            push(FLOAT.unpack_from(data, pos)[0])
            pos += 8
        elif op in SIZED_OPS and len(op) == 1:
            n = unpack_int4(data, pos)[0]
            pos += 4
            if n < 0 or pos + n > end:
                raise LoadError("%r length %d beyond the data" % (op, n))
            raw = data[pos:pos + n]
            pos += n
            if op == OP_PY3STRING:
                # execnet 2.x gives bytes for py3str_as_py2str on Python 3;
                # execnet 1.x on Python 3 ignored the option.
                push(raw if py3str_as_py2str else raw.decode("utf-8"))
            elif op == OP_UNICODE:
                push(raw.decode("utf-8"))
            elif op == OP_PY2STRING:
                push(raw.decode("latin-1") if py2str_as_py3str and not PY2 else raw)
            elif op == OP_BYTES:
                push(raw)
            else:
                push(long_type(raw) if op == OP_LONGLONG else int(raw))
        elif op == OP_COMPLEX:
            real, imag = COMPLEX.unpack_from(data, pos)
            pos += 16
            push(complex(real, imag))
        elif op == OP_CHANNEL:
            n = unpack_int4(data, pos)[0]
            pos += 4
            if channel_factory is None:
                raise LoadError("channel id outside a gateway")
            push(channel_factory(n))
        elif op == OP_STOP:
            if len(stack) != 1 or pos != end:
                raise LoadError("STOP with %d items on the stack" % len(stack))
            return stack[0]
        else:
            raise LoadError("unknown opcode %r" % (op,))
    raise LoadError("data ends without STOP")


# ---------------------------------------------------------------------------
# Channels: execnet's Python API for the code the master runs here.
# ---------------------------------------------------------------------------

class RemoteError(Exception):
    """An error text from the other side."""

    def __init__(self, formatted):
        Exception.__init__(self, formatted)
        self.formatted = formatted

    def __str__(self):
        return self.formatted

    def __repr__(self):
        return "%s: %s" % (self.__class__.__name__, self.formatted)

    def warn(self):
        try:
            sys.stderr.write("[%d] Warning: unhandled %r\n" % (os.getpid(), self))
        except Exception:
            pass


class TimeoutError(IOError):
    """No item, or no close, in the given time."""


ENDMARKER = object()
NO_ENDMARKER_WANTED = object()


class Empty(Exception):
    """Items.get found nothing in its time."""


class Items(object):
    """A channel's received items, each with its size in bytes (what flow
    control grants back once it is consumed): one lock and a deque, several
    times cheaper per item than queue.Queue, which matters for small
    messages. Execution queues its tasks in one too: the queue module cost
    every start-up 1 ms of imports."""

    def __init__(self):
        self._items = deque()
        self._cond = Condition(Lock())

    def put(self, item, size=0):
        with self._cond:
            self._items.append((item, size))
            self._cond.notify()

    def extend(self, entries):
        """Several (item, size) at once: one lock for the lot."""
        with self._cond:
            self._items.extend(entries)
            self._cond.notify_all()

    def take(self):
        """The next (item, size), or NOTHING without waiting."""
        if self._items:
            try:
                return self._items.popleft()
            except IndexError:
                pass  # another receiver took it
        return NOTHING

    def get(self, timeout=None):
        """The next (item, size); waits up to timeout seconds (forever for
        None), then raises Empty."""
        with self._cond:
            if timeout is None:
                while not self._items:
                    self._cond.wait()
            else:
                deadline = time.time() + timeout
                while not self._items:
                    remaining = deadline - time.time()
                    if remaining <= 0:
                        raise Empty()
                    self._cond.wait(remaining)
            return self._items.popleft()


NOTHING = object()
FINISHED = object()
TAKEN = object()


class Flow(object):
    """One channel's flow-control counters, in payload bytes. The sender may
    send while credit > 0 (a message may overdraw it, so any size goes
    through); the receiver grants back what it has consumed, or, while its
    own sending on the channel is blocked, all it has received: two sides
    that each send before they read then buffer instead of deadlocking."""

    __slots__ = ("credit", "received", "consumed", "granted", "sendblocked", "__weakref__")

    def __init__(self, window):
        self.credit = window
        self.received = 0
        self.consumed = 0
        self.granted = 0
        self.sendblocked = 0


class Channel(object):
    RemoteError = RemoteError
    TimeoutError = TimeoutError
    _executing = False

    def __init__(self, gateway, id):
        self.gateway = gateway
        self.id = id
        # the parts this channel works through (see the top of the file)
        self._output = gateway.output
        self._input = gateway.input
        self._flows = gateway.flows
        self._table = gateway.channels
        self._strconfig = gateway.channels.strconfig
        self._items = Items()
        self._closed = False
        self._receiveclosed = Event()
        self._remoteerrors = []
        self._waiter = None  # a thread blocked in receive(), to hand the reading role to
        self._flow = gateway.flows.new(id)

    def __repr__(self):
        return "<Channel id=%d %s>" % (self.id, "closed" if self._closed else "open")

    def __del__(self):
        if self.gateway is None or self._closed or self._receiveclosed.is_set():
            return
        # dropped while open: the master must learn that nothing more will
        # come, but not from here. A finalizer runs wherever the garbage
        # collector does: on PyPy between any two bytecodes of any thread,
        # on CPython at any allocation for a channel in a cycle; also inside
        # Output.send_parts with the send lock held, where sending deadlocked
        # the worker. So the frame is queued (a deque append takes no lock)
        # and the flusher thread sends it.
        code = CHANNEL_LAST_MESSAGE if self._items is None else CHANNEL_CLOSE
        self._output.orphan((code, self.id))

    def isclosed(self):
        return self._closed

    def send(self, item):
        if self._closed:
            raise IOError("cannot send to %r" % (self,))
        kind = type(item)
        frame = data = None
        if kind is int and INT32_MIN <= item <= INT32_MAX:
            # the commonest message, a small int: its whole frame in one pack
            frame = INT_FRAME.pack(CHANNEL_DATA, self.id, 6, OP_INT, item, OP_STOP)
            size = 6
        elif kind in BULK_TYPES and len(item) >= BULK:
            # a large bytes value goes out without being copied into a dump
            if len(item) > INT32_MAX - 6:
                raise DumpError("string is too long")
            parts = (OP_BYTES + INT4.pack(len(item)), item, OP_STOP)
            size = len(item) + 6
        else:
            data = dumps(item)
            size = len(data)
        flow = self._flow
        if flow is not None:
            # the common case, credit at hand, without a call and without
            # the with statement's slower protocol (together 10-25% of a
            # small send); Flows.spend checks again under the same lock
            lock = self._flows.lock
            lock.acquire()
            try:
                spent = flow.credit > 0
                if spent:
                    flow.credit -= size
            finally:
                lock.release()
            if not spent:
                self._flows.spend(self, size)
        if frame is not None:
            self._output.send_data(frame)
        elif data is None:
            self._output.send_parts(CHANNEL_DATA, self.id, parts, size)
        elif size < BULK:
            self._output.send_data(HEADER.pack(CHANNEL_DATA, self.id, size) + data)
        else:
            self._output.send_parts(CHANNEL_DATA, self.id, (data,), size)

    def receive(self, timeout=None):
        items = self._items
        if items is None:
            raise IOError("cannot receive(), channel has receiver callback")
        try:
            if timeout is None:
                # a queued item (the rest of a burst) without another call
                entry = items.take()
                if entry is NOTHING:
                    item, size = self._input.read_for(self, items)
                    # nothing else waits: what the code sends next answers
                    # this one, and it is not part of a burst
                    self._output.answering = not items._items
                else:
                    item, size = entry
            else:
                self._output.flush()
                item, size = self._input.wait_for(items, timeout)
        except Empty:
            raise self.TimeoutError("no item after %r seconds" % (timeout,))
        if item is ENDMARKER:
            items.put(item)  # for other receivers
            raise self._getremoteerror() or EOFError()
        if size and self._flow is not None:
            self._flows.account(self.id, self._flow, 0, size)
        if size >= HANDOFF:
            # read ahead for us: does it still pay? (see ReadAhead)
            self._input.readahead.pays()
        return item

    def __iter__(self):
        return self

    def next(self):
        try:
            return self.receive()
        except EOFError:
            raise StopIteration

    __next__ = next

    def close(self, error=None):
        if self._executing:
            raise IOError("cannot explicitly close channel within remote_exec")
        if self._closed:
            return
        if error is not None:
            self._output.send_quietly(CHANNEL_CLOSE_ERROR, self.id, dumps(_as_text(error)))
        else:
            self._output.send_quietly(CHANNEL_CLOSE, self.id)
        if isinstance(error, RemoteError):
            self._remoteerrors.append(error)
        self._closed = True
        self._receiveclosed.set()
        if self._items is not None:
            self._items.put(ENDMARKER)
        self._table.forget(self.id)
        self._flows.wake_senders()

    def waitclose(self, timeout=None):
        self._output.flush()
        self._receiveclosed.wait(timeout)
        if not self._receiveclosed.is_set():
            raise self.TimeoutError("Timeout after %r seconds" % (timeout,))
        error = self._getremoteerror()
        if error:
            raise error

    def setcallback(self, callback, endmarker=NO_ENDMARKER_WANTED):
        table = self._table
        with table.receivelock:
            items = self._items
            if items is None:
                raise IOError("%r has callback already registered" % (self,))
            self._items = None
            while True:
                pair = items.take()
                if pair is NOTHING:
                    if not (self._closed or self._receiveclosed.is_set()):
                        table.add_callback(self.id, (callback, endmarker, self._strconfig, self._flow))
                    break
                item, size = pair
                if item is ENDMARKER:
                    items.put(item)
                    if endmarker is not NO_ENDMARKER_WANTED:
                        callback(endmarker)
                    break
                callback(item)
                if self._flow is not None:
                    self._flows.account(self.id, self._flow, 0, size)

    def makefile(self, mode="w", proxyclose=False):
        if mode == "w":
            return ChannelFileWrite(self, proxyclose)
        if mode == "r":
            return ChannelFileRead(self, proxyclose)
        raise ValueError("mode %r not available" % (mode,))

    def reconfigure(self, py2str_as_py3str=True, py3str_as_py2str=False):
        self._strconfig = (py2str_as_py3str, py3str_as_py2str)
        self._output.send(RECONFIGURE, self.id, dumps(self._strconfig))

    def _getremoteerror(self):
        if self._remoteerrors:
            return self._remoteerrors.pop(0)
        return self.gateway.error


def _as_text(error):
    if isinstance(error, RemoteError):
        return error.formatted
    return error if isinstance(error, (str, text_type)) else str(error)


class ChannelFile(object):
    def __init__(self, channel, proxyclose=True):
        self.channel = channel
        self._proxyclose = proxyclose

    def isatty(self):
        return False

    def close(self):
        if self._proxyclose:
            self.channel.close()

    def __repr__(self):
        state = "closed" if self.channel.isclosed() else "open"
        return "<ChannelFile %d %s>" % (self.channel.id, state)


class ChannelFileWrite(ChannelFile):
    def write(self, out):
        self.channel.send(out)

    def flush(self):
        pass


class ChannelFileRead(ChannelFile):
    def __init__(self, channel, proxyclose=True):
        ChannelFile.__init__(self, channel, proxyclose)
        self._buffer = None

    def read(self, n):
        try:
            if self._buffer is None:
                self._buffer = self.channel.receive()
            while len(self._buffer) < n:
                self._buffer += self.channel.receive()
        except EOFError:
            self.close()
        if self._buffer is None:
            return ""
        result, self._buffer = self._buffer[:n], self._buffer[n:]
        return result

    def readline(self):
        line = self.read(1)
        while line and line[-1] != "\n":
            c = self.read(1)
            if not c:
                break
            line += c
        return line


# ---------------------------------------------------------------------------
# The gateway: frames in and out, channels by id, code execution.
# ---------------------------------------------------------------------------

STATUS = 0
RECONFIGURE = 1
GATEWAY_TERMINATE = 2
CHANNEL_EXEC = 3
CHANNEL_DATA = 4
CHANNEL_CLOSE = 5
CHANNEL_CLOSE_ERROR = 6
CHANNEL_LAST_MESSAGE = 7
CHANNEL_CREDIT = 8  # ours, only when the master asked for flow control
MESSAGE_NAMES = ("STATUS", "RECONFIGURE", "GATEWAY_TERMINATE", "CHANNEL_EXEC", "CHANNEL_DATA",
                 "CHANNEL_CLOSE", "CHANNEL_CLOSE_ERROR", "CHANNEL_LAST_MESSAGE", "CHANNEL_CREDIT")
CREDIT = struct.Struct("!Q")
BULK = 65536  # data frames from this size on skip a copy each way
HANDOFF = 256 << 10  # data frames from this size on are written by the writer thread and read ahead by the receiver thread
OUT_LIMIT = 8 << 20  # bytes of large frames that may wait for the writer thread
BULK_TYPES = (bytearray,) if PY2 else (bytes, bytearray)


def message_name(code):
    return MESSAGE_NAMES[code] if 0 <= code < len(MESSAGE_NAMES) else "code %d" % code


INTERRUPT_TEXT = "keyboard-interrupted"
# execnet's text, and its wait: a second execution that cannot have the
# main thread within MAIN_WAIT seconds is refused
MAIN_THREAD_ONLY_DEADLOCK_TEXT = "concurrent remote_exec would cause deadlock for main_thread_only execmodel"
MAIN_WAIT = 1.0
FLUSH_DELAY = 0.001  # seconds a sent item may wait for more to join it
ORPHAN_CHECK = 0.5  # seconds at most before a dropped channel's close is sent
BURST_GAP = 0.0001  # a send this soon after the last one is part of a burst
POOL_IDLE = 10.0  # seconds an execution thread waits for another before it ends
READ_GRACE = 0.005  # seconds a receiving thread keeps the reading role while busy elsewhere
SPIN_BACKOFF = 64  # at most one poll in this many waits when polls give up
# a poll's deadline must not move with the wall clock (Python 2 has only that)
MONOTONIC = getattr(time, "monotonic", time.time)
LOAD_CHECK = 0.02  # seconds between looks at the machine's load, while polling
# CPython 2's GIL makes a thread in I/O and one computing fight (10% slower
# measured), and its Event.wait polls: the taker reads its bulk items itself
READ_AHEAD = not PY2 or JYTHON
AHEAD_CHECK = 0.05  # seconds between looks at whether reading ahead pays
# the share of its time a taker of bulk items waits for a CPU (averaged
# over the looks, the last weighing half), above which reading ahead stops
# and below which it starts again. Measured on 2 CPUs, 1 MiB chunks into
# numpy, per 50 ms: reading ahead mostly 0-17% with lone looks up to 45%,
# not reading ahead 1-8%; beside a CPU-bound process 29-49% and 24-29%
AHEAD_STOP_SHARE = 0.3
AHEAD_START_SHARE = 0.15


def usable_cpus():
    """The CPUs this process may use at once: its affinity, or the CPU
    quota of its container (cgroup v2, then v1) where that is less."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except Exception:
        try:
            cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        except Exception:
            return 1
    for path, split in (("/sys/fs/cgroup/cpu.max", None), ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            with open(path) as f:
                words = f.read().split()
            if split is not None:
                with open(split) as f:
                    words += f.read().split()
            if words[0] not in ("max", "-1"):
                cpus = min(cpus, -(-int(words[0]) // int(words[1])))
            break
        except Exception:
            pass
    return cpus


def runnable():
    """Tasks running or waiting for a CPU, machine-wide, now (ourselves
    included); 0 where the system does not say."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except Exception:
        return 0


def run_delay():
    """Seconds the calling thread has spent runnable but waiting for a
    CPU, since it started; None where the system does not say (Linux's
    /proc/thread-self/schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except Exception:
        return None


def input_poller(infile):
    """A check for input on `infile` that does not wait, or None where
    there is none (Jython's stdin, Windows)."""
    try:
        import select
        poller = select.poll()
        poller.register(infile.fileno(), select.POLLIN)
        return poller.poll
    except Exception:
        return None


class Pipe(object):
    """The protocol's byte streams: exact reads, whole writes."""

    def __init__(self, infile, outfile, sock=None):
        self._sock = sock
        self._read = infile.read
        self._outfile = outfile
        self._write = getattr(outfile, "write")
        self._infile = infile
        # what the buffered reader holds, without a read (None where the
        # input has no peek: Jython's stdin, Python 2 sockets)
        self.peek = getattr(infile, "peek", None)
        # a gather write puts a large frame's parts in the pipe with one
        # system call and no copy (Python 3.3+ on POSIX)
        self._writev = getattr(os, "writev", None)
        try:
            self._fd = outfile.fileno()
        except Exception:
            self._writev = None

    def read(self, n):
        data = self._read(n)
        if len(data) == n:
            return data
        return self.read_rest(data, n)

    def read_rest(self, data, n):
        """The rest of an n-byte read that gave only `data` so far."""
        parts = [data]
        got = len(data)
        while got < n:
            if not data:
                raise EOFError("expected %d bytes, got %d" % (n, got))
            data = self._read(n - got)
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def write(self, data, flush=True):
        self._write(data)
        if flush:
            self._outfile.flush()

    def flush(self):
        self._outfile.flush()

    def write_parts(self, parts):
        """Write a large frame's parts, after what is buffered, and flush:
        the caller counts the frame as gone (Output's dirty is false)."""
        if self._writev is None:
            # a buffered file (Python 2, Jython) keeps what did not fill a
            # block; unflushed, a frame sent before a sleep stayed behind
            for part in parts:
                self._write(part)
            self._outfile.flush()
            return
        self._outfile.flush()
        total = sum(len(part) for part in parts)
        done = self._writev(self._fd, parts)
        if done < total:  # a pipe may take only part of it: write the rest
            rest = memoryview(b"".join(parts))[done:]
            while rest:
                rest = rest[os.write(self._fd, rest):]

    def close(self):
        if self._sock is not None:
            # the host keeps its reference to the connection: only a
            # shutdown tells the master that we are done. First: it also
            # wakes a reader blocked in recv() holding its file's lock
            try:
                self._sock.shutdown(2)
            except Exception:
                pass
        for f in (self._infile, self._outfile):
            try:
                f.close()
            except Exception:
                pass
        if self._sock is not None:
            try:
                self._sock.close()
            except Exception:
                pass


class GatewayReceivedTerminate(Exception):
    pass


def grant_step(window):
    # consumed bytes are granted back in steps of half the window, rounded
    # up, as the master does (grantStep in lib/flow.ts)
    return max(1, ((window or 0) + 1) // 2)


# ---------------------------------------------------------------------------
# Output: the send path, the flusher thread, the writer thread.
# ---------------------------------------------------------------------------

class Output(object):
    """Frames out to the master.

    Data frames are written without a flush: many small sends then leave in
    one system call. The output is flushed before the worker waits for
    anything (receive, waitclose, the end of an execution), and by the
    flusher thread within FLUSH_DELAY otherwise, so nothing sent stays
    behind. Control frames are flushed at once. Large frames (HANDOFF) are
    handed to a writer thread, so the code that sent one computes its next
    while this one drains into the pipe; frames sent while any wait there
    queue behind them, in order. At most OUT_LIMIT bytes wait (more blocks
    the sender), flow control or not. Smaller frames are not worth the
    thread switch (and the GIL's: a busy sender can keep the writer waiting
    for its switch interval).

    Its lock (the send lock, with the writer's condition on it) is a leaf:
    nothing else is taken while it is held.

    A write that fails means the master can no longer hear this worker
    (its end closed, the link died, our descriptor was closed): `lost` is
    called once, and by default ends the process. Waiting for the input to
    end instead can take forever: over ssh or a socket the input stays
    open while the output is gone, and the master would wait for an answer
    that can never come."""

    def __init__(self, pipe, lost=None):
        self._pipe = pipe
        self._lost = lost or output_lost
        self._lost_once = []
        self._lock = Lock()
        self._cond = Condition(self._lock)  # the writer thread's queue
        self._queue = deque()  # (parts, size) for the writer thread
        self._queued = 0
        self._writer = False  # its thread started
        self._error = None  # set once a write failed: every send fails after
        self.dirty = False  # something written is not flushed yet
        self._last_send = 0.0
        self.answering = False  # the last receive() took the only message there was
        self.finished = False
        self._flusher_sleeping = False
        self._flusher_wake = Event()
        self._orphans = deque()  # (code, id) of channels dropped while open
        # for finalizers: a deque append takes no lock (see Channel.__del__)
        self.orphan = self._orphans.append

    def send(self, code, channelid, data=b""):
        self.send_parts(code, channelid, (data,), len(data))

    def send_parts(self, code, channelid, parts, size):
        """A frame of any size; small ones are flushed at once (small data
        frames, which may wait for more, go through send_data)."""
        if DEBUG:
            trace("->", message_name(code), "channel=%d size=%d" % (channelid, size))
        header = HEADER.pack(code, channelid, size)
        if size < BULK:
            parts = (header + (parts[0] if len(parts) == 1 else b"".join(parts)),)
        else:
            # the large part is written from where it is, not copied
            parts = (header + parts[0],) + tuple(parts[1:])
        try:
            with self._lock:
                if self._error is not None:
                    raise IOError(self._error)
                if size >= HANDOFF or self._queue:
                    self._enqueue(parts, size)
                    return
                if size >= BULK:
                    self._pipe.write_parts(parts)
                    self.dirty = False
                    return
                self._pipe.write(parts[0], False)
                self._pipe.flush()
                self.dirty = False
        except (IOError, OSError, ValueError):
            error = sys.exc_info()[1]
            if self._error is None:
                self._failed(error)
            raise IOError("cannot send (already closed?)")

    def send_data(self, frame, now=time.time):
        """A small data frame, header and payload: the path of most
        messages. It waits in the buffered writer while a burst goes on
        (see the class)."""
        size = len(frame) - 9
        if DEBUG:
            trace("->", "CHANNEL_DATA", "channel=%d size=%d" % (HEADER.unpack_from(frame)[1], size))
        pipe = self._pipe
        lock = self._lock
        lock.acquire()  # as in Channel.send: cheaper than with
        try:
            if self._error is not None:
                raise IOError(self._error)
            if self._queue:
                self._enqueue((frame,), size)
                return
            # only a burst waits for more to join it: a lone send (a relay's,
            # or code that blocks elsewhere between sends) leaves at once
            # instead of after FLUSH_DELAY, and so does the answer to a
            # message that came alone (a ping-pong's: holding it until the
            # code's next receive() cost 5% of the round trip). While
            # something waits unflushed the send is part of a burst anyway,
            # and the clock is not read: in a flood that read was 7% of the
            # worker's time
            later = self.dirty
            if not later:
                t = now()
                later = t - self._last_send <= BURST_GAP and not self.answering
                self._last_send = t
                self.answering = False
            pipe._write(frame)
            if not later:
                pipe.flush()
            self.dirty = later
            return
        except (IOError, OSError, ValueError):
            failed = sys.exc_info()[1]
        finally:
            lock.release()
        # outside the lock: `lost` may close the pipe or end the process
        self._failed(failed)
        raise IOError("cannot send (already closed?)")
        if later and self._flusher_sleeping:
            self._flusher_wake.set()

    def send_quietly(self, code, channelid, data=b""):
        try:
            self.send(code, channelid, data)
        except IOError:
            pass  # the master is gone; nobody is left to tell

    def _enqueue(self, parts, size):
        # called with the lock held
        while self._queued > OUT_LIMIT and self._error is None:
            self._cond.wait()
        self._queue.append((parts, size))
        self._queued += size
        if not self._writer:
            self._writer = True
            start_thread(self._write_loop)
        self._cond.notify_all()

    def _write_loop(self):
        pipe = self._pipe
        cond = self._cond
        while True:
            with cond:
                while not self._queue:
                    cond.wait()
                parts, size = self._queue[0]
            # outside the lock: nobody else writes while the queue is not
            # empty, and senders must not wait for the pipe
            try:
                pipe.write_parts(parts)
                with cond:
                    self._queue.popleft()
                    self._queued -= size
                    if not self._queue:
                        pipe.flush()
                        self.dirty = False
                    cond.notify_all()
            except (IOError, OSError, ValueError):
                error = sys.exc_info()[1]
                with cond:
                    self._error = "cannot send (the master is gone)"
                    self._queue.clear()
                    self._queued = 0
                    cond.notify_all()
                self._failed(error)
                return

    def drain(self, timeout):
        """Wait until the writer thread has written all it holds."""
        deadline = time.time() + timeout
        with self._cond:
            while self._queue and self._error is None:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def flush(self):
        if self.dirty:
            try:
                with self._lock:
                    if self.dirty:
                        self.dirty = False
                        self._pipe.flush()
            except (IOError, OSError, ValueError):
                self._failed(sys.exc_info()[1])

    def flush_loop(self):
        """The flusher thread's body, until finish()."""
        idle = 0
        while not self.finished:
            if idle > 100:
                # nothing to flush for a while: sleep until a send wakes us,
                # or ORPHAN_CHECK passes (a finalizer may not wake us: see
                # Channel.__del__)
                self._flusher_sleeping = True
                if not self.dirty and not self._orphans:
                    self._flusher_wake.wait(ORPHAN_CHECK)
                self._flusher_wake.clear()
                self._flusher_sleeping = False
                idle = 0
            time.sleep(FLUSH_DELAY)
            if self._orphans:
                self._send_orphans()
            if self.dirty:
                self.flush()
                idle = 0
            else:
                idle += 1

    def _send_orphans(self):
        while self._orphans:
            try:
                code, id = self._orphans.popleft()
            except IndexError:
                return
            self.send_quietly(code, id)

    def finish(self):
        self.finished = True
        self._flusher_wake.set()

    def _failed(self, error):
        """A write failed: the master cannot hear us any more."""
        if self.finished or self._lost_once:
            return  # after shutdown began, a closed pipe is expected
        self._lost_once.append(True)
        self._error = self._error or "cannot send (the master is gone)"
        self._lost(error)


def output_lost(error):
    """The default when the output fails: say why on stderr and exit (1)."""
    try:
        sys.stderr.write("execnet worker %d: cannot write to the master (%s); exiting\n" % (os.getpid(), error))
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(1)


# ---------------------------------------------------------------------------
# Input: the reading role, the poll before a read sleeps, reading ahead.
# ---------------------------------------------------------------------------

class Spinner(object):
    """The poll of the input before a reader sleeps in a read (wait()).

    A reader asleep in read() must be woken by the kernel: in a ping-pong
    that wake-up, and the master's share of it in its write, were half the
    round trip. Only the reader of a drained buffer polls (in
    Input._read_run: a receive() with the reading role, between messages).
    A poll that gives up makes the next waits sleep at once, one, then two,
    up to SPIN_BACKOFF of them: code that answers slowly, or a master that
    sends rarely, costs one poll per SPIN_BACKOFF messages. Nor does it poll
    on a crowded machine: with more tasks runnable than CPUs, the poll takes
    the CPU the master needs to answer (a ping-pong beside a CPU-bound
    process on two CPUs: 25-30% slower polling, 2-11% with this check).

    `poll` checks for input without waiting (None: never poll); `clock`
    must not move with the wall clock; `runnable` counts the machine's
    runnable tasks; `running` is the set of executions running and
    `receiving` the threads of those waiting in a receive() (both read
    only: a len() is cheaper than a call, between every two reads)."""

    def __init__(self, poll, spin, cpus, running, receiving, clock=MONOTONIC, runnable=runnable):
        self.poll = poll
        self.spin = spin
        self.cpus = cpus
        self.running = running
        self.receiving = receiving
        self.clock = clock
        self.runnable = runnable
        self.load_next = 0.0  # when to look at the machine's load again
        self.crowded = False
        self.skip = 0  # waits left that sleep at once, after a poll that gave up
        self.backoff = 1
        self.spins = [0, 0]  # polls that caught input, and that gave up

    def wait(self):
        """Poll until input comes, for up to `spin` seconds."""
        if self.skip:
            self.skip -= 1
            return
        # while another execution computes, it may need the GIL more than
        # this thread needs a faster wake-up; one waiting in a receive()
        # does not (a pool worker's call server beside its function's
        # line: without the poll each call cost twice a ping-pong). The
        # poll runs in a receive(): an execution's own, counted waiting.
        if len(self.running) > len(self.receiving):
            return
        poll = self.poll
        now = self.clock
        start = now()
        if start >= self.load_next:
            self.load_next = start + LOAD_CHECK
            self.crowded = self.runnable() > self.cpus
        if self.crowded:
            return
        deadline = start + self.spin
        while not poll(0):
            if now() > deadline:
                self.spins[1] += 1
                self.skip = self.backoff
                self.backoff = min(self.backoff * 2, SPIN_BACKOFF)
                return
        self.spins[0] += 1
        self.backoff = 1


class ReadAhead(object):
    """Whether the receiver thread should read the next frames while the
    taker of a bulk item works on it (pays()), as the taker sees it: not
    once it waits for a CPU more than AHEAD_STOP_SHARE of its time, again
    once less than AHEAD_START_SHARE (averaged over its looks). A read-ahead
    needs a CPU for the receiver thread beside the taker's and the master's:
    with them to spare, 1 MiB chunks into numpy moved 42% faster; beside a
    CPU-bound process on two CPUs, 16% slower (the thread handing frames
    over waits for a CPU each time). Looked at every AHEAD_CHECK seconds,
    over the time since the last look, from the run delay the system counts
    for the calling thread (`run_delay`; None where it does not say: then
    the decision is to read ahead, for good)."""

    def __init__(self, enabled=READ_AHEAD, clock=MONOTONIC, run_delay=run_delay):
        self.enabled = enabled
        self.clock = clock
        self.run_delay = run_delay
        self.ahead = enabled  # the decision
        self.next = 0.0  # when to look again
        self.mark = None  # (thread, time, run delay) at the last look
        self.share = 0.0  # of the time the taker waited for a CPU, averaged

    def pays(self):
        if not self.enabled:
            return False
        t = self.clock()
        if t < self.next:
            return self.ahead
        me = get_ident()
        delay = self.run_delay()
        if delay is None:
            self.next = float("inf")  # nothing to look at: always
            self.ahead = True
            return True
        mark = self.mark
        if mark is not None and mark[0] == me and t > mark[1]:
            # a lone look can catch a neighbour's burst: half its weight
            share = self.share = (self.share + (delay - mark[2]) / (t - mark[1])) / 2
            self.ahead = share < (AHEAD_STOP_SHARE if self.ahead else AHEAD_START_SHARE)
        self.mark = (me, t, delay)
        self.next = t + AHEAD_CHECK
        return self.ahead


class Input(object):
    """Frames in from the master, and who reads them.

    One thread at a time holds the reading role. A thread blocked in
    channel.receive() is given the role with the item it waited for, and
    then reads its next frames itself: a ping-pong then costs no thread
    switch per message. The receiver thread takes the role back when its
    holder has not been receiving for READ_GRACE seconds, so frames for
    others keep flowing while that thread computes.

    Frames it does not deliver to a reader itself go to `act_on` (the
    gateway's dispatch). Its lock (the read lock: who holds the role) is a
    leaf; frames are acted on under the channel table's receive lock."""

    def __init__(self, pipe, output, channels, flows, spinner, readahead, receiving, executing):
        self._pipe = pipe
        # the threads of executions (`executing`, Execution's) waiting in a
        # receive(), by ident, for the spinner: an execution waiting there
        # needs no CPU. A thread an execution started is not one of them:
        # the execution itself may be computing meanwhile
        self.receiving = receiving
        self._executing = executing
        self._output = output
        self.spinner = spinner
        # None where it never polls: checked on the hot path
        self._spin_wait = spinner.wait if spinner.poll is not None else None
        self.readahead = readahead
        # the channel table's, bound for the hot path: frames are acted on
        # under its receive lock, and its callbacks decide where data goes
        self._receivelock = channels.receivelock
        self._callbacks = channels.callbacks
        self._channel = channels.channel
        self._account = flows.account
        self._act_on = None  # the gateway's dispatch, wired by it
        self._finish = None  # the gateway's end, wired by it
        self.finished = False
        self._lock = Lock()
        self.reader = None  # the thread holding the role
        self._reader_busy = False
        self._reader_idle_since = 0.0
        self.loop_ident = None  # the receiver thread's, once it runs
        self._wake = Event()
        self._drained = False  # the reader took all its buffer held
        self._look_for_run = True

    def wire(self, act_on, finish):
        self._act_on = act_on
        self._finish = finish

    def read_for(self, channel, items):
        """Read frames in this thread until one brings an item for
        `channel` (see read_one), unless another thread reads now. The
        caller found `items`, the channel's queue, empty; whatever lands in
        it meanwhile is taken below, by items.get() or before each read."""
        me = get_ident()
        counted = me in self._executing
        if counted:
            self.receiving.add(me)
        try:
            if not self.take_reading(me, channel):
                self._output.flush()
                item = items.get()
                channel._waiter = None  # served, whether or not the role came with it
                return item
            try:
                read_one = self.read_one
                # only this thread can give its role away (to a waiter it
                # delivers to), so checking it needs no lock
                while self.reader == me:
                    # the previous reader may have queued items for us before
                    # we took over: they come before anything we read
                    item = items.take()
                    if item is not NOTHING:
                        return item
                    item = read_one(channel)
                    if item is FINISHED:
                        break
                    if item is not NOTHING:
                        return item
            finally:
                self.pause_reading(me)
            return items.get()
        finally:
            if counted:
                self.receiving.discard(me)

    def wait_for(self, items, timeout):
        """items.get(timeout) for a receive() with a timeout, counted among
        the waiting executions as read_for counts its wait."""
        me = get_ident()
        counted = me in self._executing
        if counted:
            self.receiving.add(me)
        try:
            return items.get(timeout=timeout)
        finally:
            if counted:
                self.receiving.discard(me)

    def read_one(self, want=None, unpack_header=HEADER.unpack):
        """Read one frame and act on it. Returns (item, size) when it is
        data for the channel `want` (saving a trip through its queue),
        FINISHED once the gateway is done, NOTHING otherwise."""
        if self.finished:
            return FINISHED
        output = self._output
        if output.dirty:
            output.flush()  # about to wait for the master: it may wait for us
        error = None
        try:
            pipe = self._pipe
            # a run is looked for after a small frame; a look that finds
            # none (a large frame next, or one not all here) costs a copy of
            # the buffer, so the next look waits for the next small frame
            if want is not None and self._look_for_run and pipe.peek is not None:
                taken = self._read_run(want, pipe)
                if taken is TAKEN:
                    return NOTHING  # the receiver takes its items from its queue
                if taken is not NOTHING:
                    return taken
                self._look_for_run = False
            # the buffered reader's own read, which nearly always returns
            # all asked for: a Python call less per read, per small message
            read = pipe._read
            self._drained = False
            header = read(9)
            if len(header) != 9:
                header = pipe.read_rest(header, 9)
            code, channelid, length = unpack_header(header)
            self._look_for_run = length < BULK
            value = NOTHING
            if length >= BULK and code == CHANNEL_DATA:
                data, value = self._read_bulk(length)
            elif length > 0:
                data = read(length)
                if len(data) != length:
                    data = pipe.read_rest(data, length)
            elif length == 0:
                data = b""
            else:
                raise LoadError("negative payload length %d" % length)
            if DEBUG:
                trace("<-", message_name(code), "channel=%d size=%d" % (channelid, length))
            with self._receivelock:
                if code == CHANNEL_DATA and want is not None and channelid == want.id \
                        and want._items is not None and channelid not in self._callbacks:
                    if value is NOTHING:
                        value = loads(data, want._strconfig, self._channel)
                    if want._flow is not None:
                        # received and, by the receive() it returns to, consumed
                        self._account(channelid, want._flow, length, length)
                    if length >= HANDOFF:
                        self._lend_reading()
                    return value, 0
                self._act_on(code, channelid, data, length, value)
            return NOTHING
        except GatewayReceivedTerminate:
            trace("terminate requested")
        except EOFError:
            trace("EOF from the master")
            error = EOFError("the master closed the connection")
        except Exception:
            # malformed frames: stop, run nothing more
            trace("receiver failed:", format_error())
            try:
                sys.stderr.write("execnet worker: protocol error, shutting down:\n%s" % format_error())
            except Exception:
                pass
        self._finish(error)
        return FINISHED

    def _read_run(self, want, pipe, unpack_from=HEADER.unpack_from, unpack_int4=INT4.unpack_from):
        """Act on every whole small frame the input buffer already holds, in
        one pass: data for `want` is decoded, queued in one lock and counted
        as consumed (see _queue_run), anything else is handled as read_one
        would, in order. A burst of small messages then costs one pass
        through the reading role instead of one per message. Returns NOTHING
        when it took no frame, want's (item, 0) when that was all it took,
        TAKEN otherwise."""
        if self._spin_wait is not None and self._drained:
            self._spin_wait()
        buf = pipe.peek(1)  # waits for input while none is buffered, as a read would
        end = len(buf)
        me = self.reader
        wid = want.id
        pos = 0  # the frames before pos are taken
        consumed = 0  # of them, those read out of the buffered reader
        entries = []
        received = 0
        callbacks = self._callbacks
        with self._receivelock:
            # what decides where want's frames go and how they read changes
            # only through frames acted on below (a callback they run may
            # set one): looked up once, and again after each of those
            mine = want._items is not None and wid not in callbacks
            strconfig = want._strconfig
            while pos + 9 <= end:
                code, channelid, length = unpack_from(buf, pos)
                start = pos + 9
                stop = start + length
                if not 0 <= length < BULK or stop > end:
                    break  # for read_one: a large frame, or one not all here
                if DEBUG:
                    trace("<-", message_name(code), "channel=%d size=%d" % (channelid, length))
                if channelid == wid and code == CHANNEL_DATA and mine:
                    if length == 6 and buf[start:start + 1] == OP_INT and buf[start + 5:stop] == OP_STOP:
                        # a small int, the commonest message, as loads reads it
                        entries.append((unpack_int4(buf, start + 1)[0], 0))
                    else:
                        entries.append((loads(buf[start:stop], strconfig, self._channel), 0))
                    received += length
                    pos = stop
                    continue
                # another frame comes after want's items so far, and is read
                # out before it is acted on: acting may hand the reading role
                # to another thread, which then reads on from there
                if entries:
                    self._queue_run(want, entries, received)
                    entries = []
                    received = 0
                pipe._read(stop - consumed)
                consumed = pos = stop
                self._act_on(code, channelid, buf[start:stop], length, NOTHING)
                if self.reader != me or self.finished:
                    break
                mine = want._items is not None and wid not in callbacks
                strconfig = want._strconfig
            if pos > consumed:
                pipe._read(pos - consumed)
            self._drained = pos == end  # peek gave all that was buffered
            if len(entries) == 1 and consumed == 0:
                # a lone message (a ping-pong's): straight to its receiver
                if want._flow is not None:
                    self._account(wid, want._flow, received, received)
                return entries[0]
            if entries:
                self._queue_run(want, entries, received)
        return TAKEN if pos > 0 else NOTHING

    def _queue_run(self, channel, entries, received):
        # A run is read only by a receive() whose queue is empty, and that
        # thread takes these items next: they count as consumed now, in one
        # step, instead of one by one (a fifth of a small message's receive
        # was that accounting). Should the code stop receiving, the master
        # may run ahead by this run at most: the input buffer, 64 KiB.
        channel._items.extend(entries)
        if channel._flow is not None:
            self._account(channel.id, channel._flow, received, received)

    def _read_bulk(self, length):
        """A large data frame: when it holds one bytes value, read the value
        straight from the pipe (one copy less than reading the payload and
        slicing it); returns (payload, NOTHING) or (None, value)."""
        pipe = self._pipe
        head = pipe.read(5)
        if head[0:1] == OP_BYTES and INT4.unpack(head[1:5])[0] == length - 6:
            value = pipe.read(length - 6)
            if pipe.read(1) != OP_STOP:
                raise LoadError("a bytes value not followed by the end of its dump")
            return None, value
        return head + pipe.read(length - 5), NOTHING

    def take_reading(self, me, channel):
        """Become the reader if the role is ours or free; otherwise ask to
        be handed it with the next item for `channel` (if any)."""
        with self._lock:
            if self.finished:
                return False
            # an idle holder reads nothing: its role can be taken at once
            if self.reader is None or self.reader == me or not self._reader_busy:
                self.reader = me
                self._reader_busy = True
                return True
            if channel is not None:
                channel._waiter = me
            return False

    def pause_reading(self, me):
        with self._lock:
            if self.reader == me:
                self._reader_busy = False
                self._reader_idle_since = time.time()

    def give_reading(self, me, channel):
        """After delivering to `channel`, hand the role to the thread that
        waits on it."""
        waiter = channel._waiter
        if waiter is None or waiter == me:
            return
        channel._waiter = None
        with self._lock:
            if self.reader == me:
                self.reader = waiter
                self._reader_busy = False
                self._reader_idle_since = time.time()

    def _lend_reading(self):
        """After a receive() read a bulk item: offer the reading role to the
        receiver thread, which reads the next frames (the copy out of the
        pipe) while the taker works on this one (numpy's sum, a write to
        disk), instead of after it. Offered, not handed: the role is left
        idle, so a taker back before the receiver thread is awake (Python
        2's Event.wait polls) takes it back and reads on as before."""
        loop = self.loop_ident
        if loop is None or not self.readahead.pays():
            return
        with self._lock:
            if self.reader != get_ident():
                return
            self.reader = loop
            self._reader_busy = False
            self._reader_idle_since = 0.0
        self._wake.set()

    def receive_loop(self):
        """The receiver thread's body: read whenever nobody else does,
        until the gateway is finished."""
        me = self.loop_ident = get_ident()
        while not self.finished:
            with self._lock:
                if self.reader is not None and self.reader != me:
                    if self._reader_busy or time.time() - self._reader_idle_since <= READ_GRACE:
                        wait = True
                    else:
                        wait = False  # its holder went on to other work
                else:
                    wait = False
                if not wait:
                    self.reader = me
                    self._reader_busy = True
            if wait:
                if READ_AHEAD:
                    self._wake.wait(READ_GRACE)
                    self._wake.clear()  # before the state is looked at again
                else:
                    time.sleep(READ_GRACE)
                continue
            self.read_one()


# ---------------------------------------------------------------------------
# Flow windows: credit per channel and direction.
# ---------------------------------------------------------------------------

class Flows(object):
    """Flow control, when the master asked for it (window: bytes per
    channel and direction; None: off). Each channel's counters are a Flow;
    this grants the master what is due (account), takes send credit
    (spend), and wakes senders waiting for it. Its lock (the credit lock,
    with a condition on it) is a leaf."""

    def __init__(self, window):
        self.window = window
        self.grant_step = grant_step(window)
        self._flows = weakref.WeakValueDictionary()
        # the lock itself where nobody waits: cheaper than the Condition's with
        self.lock = Lock()
        self._cond = Condition(self.lock)
        self.finished = False
        self._send_quietly = None  # wired: Output's
        self._flush = None
        self._input = None

    def wire(self, output, input):
        self._send_quietly = output.send_quietly
        self._flush = output.flush
        self._input = input

    def new(self, id):
        """The counters of a new channel, or None without flow control."""
        if self.window is None:
            return None
        flow = self._flows[id] = Flow(self.window)
        return flow

    def account(self, id, flow, received, consumed):
        """Count bytes received and consumed on a channel, and grant its
        sender what is due: consumed bytes, in steps of half the window;
        everything received, at once, while our own send on it waits."""
        with self.lock:
            flow.received += received
            flow.consumed += consumed
            target = flow.received if flow.sendblocked else flow.consumed
            grant = target - flow.granted
            if grant <= 0 or (grant < self.grant_step and not flow.sendblocked):
                return
            flow.granted = target
        self._send_quietly(CHANNEL_CREDIT, id, CREDIT.pack(grant))

    def credit(self, id, grant):
        """The master granted `grant` more bytes on channel `id`."""
        flow = self._flows.get(id)
        if flow is not None:
            with self._cond:
                flow.credit += grant
                self._cond.notify_all()

    def spend(self, channel, size):
        """Take `size` bytes of the channel's send credit, waiting for the
        master to grant more while it has none."""
        flow = channel._flow
        cond = self._cond
        with self.lock:  # cond's own lock, without its slower with
            if flow.credit > 0:
                flow.credit -= size
                return
            flow.sendblocked += 1
        input = self._input
        try:
            self.account(channel.id, flow, 0, 0)  # grant all we hold
            self._flush()  # the master may be waiting for what we sent
            me = get_ident()
            while True:
                with cond:
                    if flow.credit > 0:
                        flow.credit -= size
                        return
                    if self.finished or channel._closed:
                        raise IOError("cannot send to %r: it was closed while waiting for the master to take more" % (channel,))
                # read the master's frames ourselves when nobody else does:
                # the credit we wait for is among them
                if input.take_reading(me, None):
                    try:
                        while input.reader == me and flow.credit <= 0 and not channel._closed:
                            if input.read_one() is FINISHED:
                                break
                    finally:
                        input.pause_reading(me)
                else:
                    with cond:
                        if flow.credit <= 0 and not self.finished and not channel._closed:
                            cond.wait(READ_GRACE)
        finally:
            with cond:
                flow.sendblocked -= 1

    def wake_senders(self):
        with self._cond:
            self._cond.notify_all()

    def finish(self):
        self.finished = True
        self.wake_senders()


# ---------------------------------------------------------------------------
# Channels: the table of open channels, and what comes for them.
# ---------------------------------------------------------------------------

class Channels(object):
    """The worker's channels by id, their receiver callbacks, and the
    delivery of data and closes to them.

    The receive lock (reentrant) is held while a frame is acted on and
    while a callback is set: it is the outermost lock, under which any
    other may be taken (a callback runs user code). The table's own lock
    is a leaf."""

    def __init__(self, gateway, flows, output):
        self._gateway = gateway  # what a Channel is made with (channel.gateway)
        self._flows = flows
        self._output = output
        self._input = None  # wired
        self._lock = Lock()
        self._channels = weakref.WeakValueDictionary()
        self.callbacks = {}  # id -> (callback, endmarker, strconfig, flow)
        self.receivelock = RLock()
        self.strconfig = (True, False)  # for new channels (RECONFIGURE on 0)
        self._count = 2  # the worker's channel ids are even, the master's odd
        self.finished = False

    def wire(self, input):
        self._input = input

    def count(self):
        return len(self._channels)

    def channel(self, id=None):
        """The channel `id`, made if it is new; a new id for None."""
        with self._lock:
            if self.finished:
                raise IOError("connection already closed: %r" % (self._gateway,))
            if id is None:
                id = self._count
                self._count += 2
            channel = self._channels.get(id)
            if channel is None:
                channel = self._channels[id] = Channel(self._gateway, id)
            return channel

    def add_callback(self, id, entry):
        # called with the receive lock held (Channel.setcallback)
        self.callbacks[id] = entry

    def forget(self, id):
        self._channels.pop(id, None)
        entry = self.callbacks.pop(id, None)
        if entry is not None and entry[1] is not NO_ENDMARKER_WANTED:
            entry[0](entry[1])

    def local_close(self, id, error=None, sendonly=False):
        channel = self._channels.get(id)
        if channel is None:
            if error is not None:
                error.warn()
            self.forget(id)
            return
        if error is not None:
            channel._remoteerrors.append(error)
        if channel._items is not None:
            channel._items.put(ENDMARKER)
        self.forget(id)
        if not sendonly:
            channel._closed = True
            self._flows.wake_senders()
        channel._receiveclosed.set()

    def local_receive(self, id, data, size, value=NOTHING):
        """Data for channel `id`: its payload, or the value already read
        from it (a bulk bytes frame)."""
        entry = self.callbacks.get(id)
        if entry is None:
            channel = self._channels.get(id)
            if channel is not None and channel._items is not None:
                if value is NOTHING:
                    value = loads(data, channel._strconfig, self.channel)
                channel._items.put(value, size)
                if channel._flow is not None:
                    self._flows.account(id, channel._flow, size, 0)
                if channel._waiter is not None:
                    if size < HANDOFF or not self._input.readahead.ahead:
                        self._input.give_reading(get_ident(), channel)
                    else:
                        # served: its taker works on it while this thread
                        # reads on (see Input._lend_reading), also past the
                        # small items that may follow
                        channel._waiter = None
            return
        callback, _, strconfig, flow = entry
        try:
            callback(loads(data, strconfig, self.channel) if value is NOTHING else value)
        except USER_ERRORS:
            text = format_error()
            self._output.send_quietly(CHANNEL_CLOSE_ERROR, id, dumps(text))
            self.local_close(id, RemoteError(text))
            return
        if flow is not None:
            self._flows.account(id, flow, size, size)

    def finish(self):
        """Refuse new channels from now on; False if that was so already."""
        with self._lock:
            if self.finished:
                return False
            self.finished = True
            return True

    def close_all(self):
        """At the end: every channel's receiver learns that nothing more
        comes."""
        for id in list(self._channels.keys()):
            self.local_close(id, sendonly=True)
        for id in list(self.callbacks):
            self.forget(id)


# ---------------------------------------------------------------------------
# Execution: the master's code, in the main thread or a pool.
# ---------------------------------------------------------------------------

class ExecModel(object):
    """execnet's ExecModel for its thread backends ("thread",
    "main_thread_only"): what remote code finds as
    channel.gateway.execmodel."""

    def __init__(self, backend):
        self.backend = backend

    def __repr__(self):
        return "<ExecModel %r>" % (self.backend,)

    @property
    def queue(self):
        # imported here: the worker's own queues are Items
        if PY2:
            import Queue as queue
        else:
            import queue
        return queue

    @property
    def subprocess(self):
        import subprocess
        return subprocess

    @property
    def socket(self):
        import socket
        return socket

    def get_ident(self):
        return get_ident()

    def sleep(self, delay):
        time.sleep(delay)

    def start(self, func, args=()):
        try:
            import thread as _thread
        except ImportError:
            import _thread
        _thread.start_new_thread(func, args)

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        if PY2:
            return os.fdopen(fd, mode, bufsize)
        if "b" in mode:
            return os.fdopen(fd, mode, bufsize, closefd=closefd)
        return os.fdopen(fd, mode, bufsize, encoding="utf-8", closefd=closefd)

    def Lock(self):
        # execnet's is reentrant too
        import threading
        return threading.RLock()

    def RLock(self):
        import threading
        return threading.RLock()

    def Event(self):
        import threading
        return threading.Event()


class Execution(object):
    """Runs the master's code: in the main thread when it is free (signal
    handlers and some libraries need it), in pool threads otherwise; with
    main_thread_only, only in the main thread, one at a time, and an
    execution that cannot have it within MAIN_WAIT is refused, as execnet
    refuses it. Its lock is a leaf."""

    def __init__(self, backend, hosted, flush):
        self.backend = backend
        self.model = ExecModel(backend)
        self._main_only = backend == "main_thread_only"
        # in a process that is not ours (execnet's socketserver.py): never
        # interrupt its main thread or exit it
        self._hosted = hosted
        self._flush = flush  # Output's
        self._lock = Lock()
        self._idle = Condition(self._lock)  # notified when none runs
        self.running = set()  # ids of the channels whose code runs (or is queued to)
        self.threads = set()  # idents of the threads running an execution now
        self._tasks = Items()  # for the main thread; None ends it
        self._pool_tasks = Items()
        self._pool_idle = 0
        self._mainbusy = False
        self._waiting = deque()  # main_thread_only: [channel, task] for the main thread
        self.finished = False

    def executing(self):
        return len(self.running)

    def schedule(self, channel, task):
        with self._lock:
            if self._main_only and (self._mainbusy or self._waiting):
                entry = [channel, task]
                self._waiting.append(entry)
                refuse = True
            else:
                refuse = False
                self.running.add(channel.id)
                use_main = not self._mainbusy or self._main_only
                if use_main:
                    self._mainbusy = True
                # an idle pool thread takes it, or a new thread starts:
                # starting a thread per execution made short ones cost
                # milliseconds
                handoff = not use_main and self._pool_idle > 0
                if handoff:
                    self._pool_idle -= 1
        if refuse:
            # not in the reading thread, as execnet's worker does it: the
            # running execution's frames keep coming meanwhile
            import threading  # main_thread_only's refusals only (see the threads section)
            timer = threading.Timer(MAIN_WAIT, self._refuse, (entry,))
            timer.daemon = True
            timer.start()
        elif use_main:
            self._tasks.put((channel, task))
        elif handoff:
            self._pool_tasks.put((channel, task))
        else:
            start_thread(self._pool_loop, ((channel, task),))

    def _refuse(self, entry):
        with self._lock:
            try:
                self._waiting.remove(entry)
            except ValueError:
                return  # the main thread took it in time
        entry[0].close(MAIN_THREAD_ONLY_DEADLOCK_TEXT)

    def _main_free(self):
        # the main thread finished a task: the next waiting one, if any
        with self._lock:
            entry = self._waiting.popleft() if self._waiting else None
            if entry is not None:
                self.running.add(entry[0].id)
            else:
                self._mainbusy = False
        if entry is not None:
            self._tasks.put(tuple(entry))

    def _pool_loop(self, item):
        while True:
            self._execute(*item)
            with self._lock:
                self._pool_idle += 1
            try:
                item = self._pool_tasks.get(timeout=POOL_IDLE)[0]
            except Empty:
                with self._lock:
                    # leave only if no execution was handed to the idle
                    # threads meanwhile (each handoff took one idle slot)
                    if self._pool_idle > 0:
                        self._pool_idle -= 1
                        return
                item = self._pool_tasks.get()[0]

    def run_main(self):
        """The main thread's loop, until stop()."""
        try:
            while True:
                item = self._tasks.get()[0]
                if item is None:
                    break
                self._execute(*item)
                self._main_free()
        except KeyboardInterrupt:
            pass

    def stop(self):
        self.finished = True
        self._tasks.put(None)  # wakes the main thread's loop to end

    def wait(self, timeout):
        """Wait up to `timeout` seconds for the running executions to end."""
        with self._lock:
            if self.running:
                self._idle.wait(timeout)

    def _execute(self, channel, task):
        me = get_ident()
        self.threads.add(me)
        try:
            source, file_name, call_name, kwargs = task
            namespace = {"channel": channel, "__name__": "__channelexec__"}
            channel._executing = True
            try:
                code = compile(source + "\n", file_name or "<remote exec>", "exec")
                exec(code, namespace)
                if call_name:
                    if PY2 and kwargs:
                        # keyword names must be str on Python 2; no
                        # comprehension here: a nested scope beside exec
                        # is a SyntaxError on Jython
                        names = {}
                        for key in kwargs:
                            names[str(key)] = kwargs[key]
                        kwargs = names
                    namespace[call_name](channel, **kwargs)
            finally:
                channel._executing = False
        except KeyboardInterrupt:
            channel.close(INTERRUPT_TEXT)
        except ANY_ERROR:
            error = sys.exc_info()[1]
            if not (isinstance(error, EOFError) and self.finished):
                channel.close(format_error(skip=1))
            else:
                channel.close()
        else:
            channel.close()
        finally:
            self.threads.discard(me)
            self._flush()
            with self._lock:
                self.running.discard(channel.id)
                if not self.running:
                    self._idle.notify_all()

    def watchdog(self):
        # Code that ignores the end of its channel must not keep an orphaned
        # worker alive: interrupt it, then leave without it.
        self.wait(5.0)
        if not self.running:
            return
        if self._hosted:
            trace("execution still running 5 s after the end; left to finish in its host")
            return
        trace("execution still running 5 s after the end; interrupting")
        try:
            import thread as _thread
        except ImportError:
            import _thread
        _thread.interrupt_main()
        self.wait(2.0)
        if self.running:
            trace("execution ignores the interrupt; exiting")
            self._flush()
            os._exit(1)


# ---------------------------------------------------------------------------
# The gateway: the parts wired together, and the master's frames dispatched.
# ---------------------------------------------------------------------------

class WorkerGateway(object):
    """One per process: makes the parts, wires them, dispatches the
    master's frames to them (a table: message code -> handler) and serves
    until the master is done. `clock`, `runnable` and `run_delay` are the
    probes the input's policies look at (see Spinner and ReadAhead)."""

    id = "<worker>"

    def __init__(self, pipe, id, execmodel="thread", window=None, hosted=False, spin=0.0,
                 clock=MONOTONIC, runnable=runnable, run_delay=run_delay):
        self.id = id
        self.error = None  # why the connection ended, for receivers
        self._pipe = pipe
        # a worker hosted in execnet's socket server must not end that
        # process: it shuts its connection, which ends its reading too
        self.output = Output(pipe, (lambda error: pipe.close()) if hosted else None)
        self.flows = Flows(window)
        self.execution = Execution(execmodel, hosted, self.output.flush)
        self.execmodel = self.execution.model
        self.channels = Channels(self, self.flows, self.output)
        # polling for input before sleeping in a read; not on one CPU,
        # where the poll would hold up the master it waits for
        spin = spin or 0.0
        cpus = usable_cpus()
        poll = input_poller(pipe._infile) if spin > 0 and cpus > 1 else None
        receiving = set()  # executions' threads waiting in a receive(): Input keeps it
        spinner = Spinner(poll, spin, cpus, self.execution.running, receiving, clock, runnable)
        readahead = ReadAhead(READ_AHEAD, clock, run_delay)
        self.input = Input(pipe, self.output, self.channels, self.flows, spinner, readahead, receiving, self.execution.threads)
        self.flows.wire(self.output, self.input)
        self.channels.wire(self.input)
        self.input.wire(self.act_on, self._finish)
        handlers = {
            STATUS: self._status,
            RECONFIGURE: self._reconfigure,
            GATEWAY_TERMINATE: self._terminate,
            CHANNEL_EXEC: self._exec,
            CHANNEL_DATA: self.channels.local_receive,
            CHANNEL_CLOSE: self._close,
            CHANNEL_CLOSE_ERROR: self._close_error,
            CHANNEL_LAST_MESSAGE: self._last_message,
        }
        if window is not None:
            # without flow control a credit frame is a protocol error
            handlers[CHANNEL_CREDIT] = self._credit
        self._handlers = handlers

    def __repr__(self):
        return "<WorkerGateway id=%r>" % (self.id,)

    def newchannel(self):
        return self.channels.channel(None)

    def act_on(self, code, channelid, data, length, value):
        """A frame nobody reads directly: data goes to its channel (its
        payload, or the value already read from it), the rest to its
        handler."""
        handler = self._handlers.get(code)
        if handler is None:
            raise LoadError("unknown message code %d" % code)
        handler(channelid, data, length, value)

    # the handlers: (channel id, payload, its length, the value read from it)

    def _credit(self, channelid, data, length, value):
        self.flows.credit(channelid, CREDIT.unpack(data)[0])

    def _exec(self, channelid, data, length, value):
        self.execution.schedule(self.channels.channel(channelid), loads(data))

    def _close(self, channelid, data, length, value):
        self.channels.local_close(channelid)

    def _close_error(self, channelid, data, length, value):
        self.channels.local_close(channelid, RemoteError(loads(data)))

    def _last_message(self, channelid, data, length, value):
        self.channels.local_close(channelid, sendonly=True)

    def _reconfigure(self, channelid, data, length, value):
        strconfig = tuple(loads(data))
        if channelid == 0:
            self.channels.strconfig = strconfig
        else:
            self.channels.channel(channelid)._strconfig = strconfig

    def _status(self, channelid, data, length, value):
        status = {"numchannels": self.channels.count(), "numexecuting": self.execution.executing(),
                  "execmodel": self.execution.backend}
        self.output.send(CHANNEL_DATA, channelid, dumps(status))
        self.output.send(CHANNEL_CLOSE, channelid)

    def _terminate(self, channelid, data, length, value):
        raise GatewayReceivedTerminate()

    def _finish(self, error=None):
        if error is not None:
            self.error = error
        if not self.channels.finish():
            return
        self.input.finished = True
        self.execution.finished = True
        self.output.finish()
        self.flows.finish()
        self.channels.close_all()
        self.execution.stop()

    def _receive(self):
        self.input.receive_loop()
        self.execution.watchdog()

    def serve(self):
        for target in (self._receive, self.output.flush_loop):
            start_thread(target)
        self.execution.run_main()
        self.execution.wait(5.0)
        self.output.drain(5.0)
        self.output.finish()  # from here a failed write is the end we chose, not a lost master
        self._pipe.close()


def format_error(skip=0):
    """The current exception as traceback text; skip drops the worker's own
    innermost frames so the user sees their code first."""
    try:
        import traceback  # here, not at the top: it costs start-up time
        etype, value, tb = sys.exc_info()
        for _ in range(skip):
            if tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
        return "".join(traceback.format_exception(etype, value, tb))
    except Exception:
        error = sys.exc_info()[1]
        return "%s: %s" % (type(error).__name__, error)


# ---------------------------------------------------------------------------
# Bootstrap: take the protocol pipe, then serve.
# ---------------------------------------------------------------------------

def enlarge_pipe(fd):
    """Linux pipes hold 64 KiB: a writer then waits for each 64 KiB to be
    read, and a bulk transfer becomes a ping-pong of wake-ups. 1 MiB (the
    unprivileged maximum) lets both sides run. Elsewhere, or for a socket,
    nothing happens: Node's spawn gives its children socket pairs (about
    200 KiB deep), so this is for masters that spawn us with pipes."""
    try:
        # fcntl only for a pipe: its import cost every start-up on a
        # socket pair, where the call fails anyway
        import stat
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            import fcntl
            fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except Exception:
        pass


def take_stdio():
    """Move the protocol to private descriptors, so that remote code that
    prints, even from C with os.write(1, ...), cannot corrupt it. Its output
    goes to stderr, which the master shows."""
    if not hasattr(os, "dup"):  # Jython: no descriptors, only file objects
        pipe = Pipe(sys.stdin, sys.stdout)
        sys.stdin = open(os.devnull)
        sys.stdout = sys.stderr
        return pipe
    # buffered both ways: reads fetch many frames per system call, and a
    # buffered writer finishes partial pipe writes; each frame is flushed
    # io's reader on Python 2 too: it has peek(), which bursts are read with
    infile = io.open(os.dup(0), "rb", buffering=65536)
    outfile = os.fdopen(os.dup(1), "wb", 65536) if PY2 else open(os.dup(1), "wb", buffering=65536)
    for f in (infile, outfile):
        enlarge_pipe(f.fileno())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    if PY2:
        sys.stdin = os.fdopen(0, "r")
        sys.stdout = os.fdopen(1, "w", 1)
    else:
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
    return Pipe(infile, outfile)


def socket_pipe(sock):
    """The protocol on a connection, in a process that is not ours
    (execnet's socketserver.py runs what it is sent in itself): its stdio
    is left alone."""
    try:
        # _socket has the two constants; socket's own imports (enum,
        # selectors) cost a SLURM node's start-up 5-6 ms of CPU
        try:
            import _socket as socket
            socket.TCP_NODELAY
        except (ImportError, AttributeError):
            import socket  # Jython
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:
        pass
    return Pipe(sock.makefile("rb", 65536), sock.makefile("wb", 65536), sock)


def import_late():
    """What the gateway's objects need from their first line, imported by
    the main thread once the ready byte is out, while the master takes the
    byte and sends its first frame: weakref, and threading where the
    threads section does not build its primitives."""
    global weakref, Lock, RLock, Condition, Event, start_thread
    import weakref
    if _thread is None:
        import threading
        Lock, RLock, Condition, Event = threading.Lock, threading.RLock, threading.Condition, threading.Event
        start_thread = _threading_start


def main(id="worker", execmodel="thread", window=None, sock=None, spin=0.0, hosted=None):
    # on a socket: hosted in execnet's socket server (the default), or a
    # process of its own that connected back (a SLURM node), free to exit
    if hosted is None:
        hosted = sock is not None
    pipe = take_stdio() if sock is None else socket_pipe(sock)
    pipe.write(b"1")  # execnet's ready byte: the master starts sending frames
    import_late()
    gateway = WorkerGateway(pipe, id, execmodel, window, hosted=hosted, spin=spin)
    trace("serving as", id)
    gateway.serve()


if __name__ == "__main__" and sys.argv[0] != "-c":
    main()
