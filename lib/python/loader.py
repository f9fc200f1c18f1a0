# -*- coding: ascii -*-
"""The worker's code object: compiled from its source, or the one compiled last time.

This runs first in every interpreter our master starts, before the worker
(lib/python/worker.py, sent beside it deflated, as a base64 string). Compiling the worker's 64 KB of
source takes 12-25 ms on CPython, as much as starting the interpreter and
half of a whole start-up; unmarshalling the code compiled last time takes
0.3 ms. So, as Python keeps .pyc files beside modules, the code is kept in
a cache directory, one file per worker version (the master's key: a hash of
the source) and interpreter (cache tag, magic number, optimization level).

A code object read from a file is code that will run, so a file is used only
when it and its directory belong to the user running the worker and nobody
else may write to them; anything wrong with it (foreign, truncated, another
magic number, not a code object) means the source is compiled as if there
were no file. Nothing is written for a spec with dont_write_bytecode (the
master passes store=False). PYTHONDONTWRITEBYTECODE alone does not turn the
cache off: it is about .pyc files beside imported modules, and images that
set it for that would lose 12-25 ms on every start-up; EXECNET_CACHE_DIR
names the directory (empty: no cache at all). Jython compiles to Java
classes, which marshal cannot hold: it always compiles.
"""

import marshal
import os
import sys


def _worker_code(packed, key, store=True):
    """`packed`: the worker's source, deflated and in base64 (see the master's
    packedWorkerSource), inflated only when no cached code can be used."""
    try:
        where = _cache_file(key)
    except Exception:
        where = None  # no usable place: compile, as without a cache
    if where is not None:
        try:
            code = _cached_code(where)
        except Exception:
            code = None  # missing, foreign or unreadable: compiled, and stored over
        if code is not None:
            return code
    import binascii
    import zlib
    source = zlib.decompress(binascii.a2b_base64(packed))
    code = compile(source, "<string>", "exec", 0, True)
    if where is not None and store:
        try:
            _store_code(where, code)
        except Exception:
            pass  # a read-only or full disk costs the next start-up its compile, nothing more
    return code


def _cache_file(key):
    """(directory, file name, magic number, named by EXECNET_CACHE_DIR) for
    this interpreter, or None when it has no cache."""
    if sys.platform.startswith("java") or not hasattr(os, "getuid"):
        return None
    directory = os.environ.get("EXECNET_CACHE_DIR")
    explicit = directory is not None
    if directory is None:
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(home, "execnet-worker")
    if not directory:
        return None
    external = sys.modules.get("_frozen_importlib_external")
    if external is not None:
        magic = external.MAGIC_NUMBER
        tag = sys.implementation.cache_tag
    else:
        import imp  # Python 2, where it costs nothing
        magic = imp.get_magic()
        tag = "cpython-%d%d" % sys.version_info[:2]
    name = "worker-%s-%s-o%d" % (key, tag, sys.flags.optimize)
    return directory, name, magic, explicit


def _private(st):
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _owner(path):
    """The owner of path, or of its nearest ancestor that exists."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return os.stat(path).st_uid


def _cached_code(where):
    directory, name, magic, _ = where
    if not _private(os.stat(directory)):
        return None
    fd = os.open(os.path.join(directory, name), os.O_RDONLY)
    try:
        if not _private(os.fstat(fd)):
            return None
        data = b""
        while True:
            part = os.read(fd, 1 << 20)
            if not part:
                break
            data += part
    finally:
        os.close(fd)
    if data[:len(magic)] != magic:
        return None
    code = marshal.loads(data[len(magic):])
    return code if type(code) is type(_worker_code.__code__) else None


def _store_code(where, code):
    directory, name, magic, explicit = where
    if not os.path.isdir(directory):
        # the default place is made only under a directory of our own: a
        # worker run as root with a user's HOME (sudo) must not leave a
        # root-owned ~/.cache in that user's home
        if not explicit and _owner(directory) != os.getuid():
            return
        try:
            os.makedirs(directory, 0o700)
        except OSError:
            pass  # made meanwhile, or cannot be: the stat says which
    if not _private(os.stat(directory)):
        return
    temporary = os.path.join(directory, "%s.%d.tmp" % (name, os.getpid()))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            data = magic + marshal.dumps(code)
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        # another worker starting at the same moment may rename its copy
        # over this one: both hold the same code
        os.rename(temporary, os.path.join(directory, name))
    except Exception:
        try:
            os.remove(temporary)  # a full disk must not keep half a file
        except OSError:
            pass
        raise
    # the code of older worker versions for this interpreter is never read again
    stem = name.split("-", 2)
    for other in os.listdir(directory):
        parts = other.split("-", 2)
        # (a .tmp left by a worker killed while writing goes too, with its version)
        if len(parts) == 3 and parts[0] == "worker" and parts[2].split(".")[0] == stem[2] and parts[1] != stem[1]:
            try:
                os.remove(os.path.join(directory, other))
            except OSError:
                pass
