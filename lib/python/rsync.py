"""execnet for TypeScript: the receiving side of RSync (lib/rsync.ts).

Run by remoteExec with serve(channel, dest, delete). Valid on Python 2.7 to
3.13, PyPy and Jython, under our worker or execnet's: it only needs the
channel's send and receive.

The master sends the source tree's listing, in batches:
    ["entries", [[path, kind, mode, size, mtime_us, target], ...]]
where kind is "d" (directory), "f" (file), "l" (symlink, kept as it is) or
"L" (an absolute symlink into the tree: target is the path inside it), and
path is "/"-separated, relative to the tree ("" is its root); then
["listed"]. This side answers, while it reads the listing, with
["need", index, checksum or None] for each file whose size or mtime differ
(the SHA-256 of its current content when only the mtime does), then
["listed", number of needs]. The master then answers each need in order:
["same", index] (the content is already right), ["data", index] then the
content as bytes values then ["end", index], or ["gone", index] (it
vanished meanwhile). Each file is written to a temporary name and renamed,
so that no half-written file is ever in place; this side acknowledges it
with ["wrote", index, nbytes] or ["kept", index]. Last, this side deletes
what is not in the listing (when asked), sets the directories' modes and
sends ["done", number deleted].

Unlike execnet's rsync, a file is never held whole in memory on either
side, and symlinks keep their meaning: relative ones are copied as they
are, absolute ones into the tree point into the copy.
"""

import binascii
import hashlib
import os
import shutil
import stat

PY2 = str is bytes
CHUNK = 1 << 20


def native(text):
    """Paths as the OS's native str: UTF-8 bytes on Python 2, whatever the
    locale says."""
    if PY2 and not isinstance(text, str):
        return text.encode("utf-8")
    return text


def checked(rel):
    parts = rel.split("/") if rel else []
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError("rsync: bad path in the listing: %r" % (rel,))
    return parts


def mtime_us(st):
    ns = getattr(st, "st_mtime_ns", None)
    if ns is not None:
        return ns // 1000
    # a float's last digit is not exact: set_mtime stores half a microsecond
    # more, so that this floor and the master's (from nanoseconds) agree
    return int(st.st_mtime * 1e6)


def set_mtime(path, us):
    try:
        os.utime(path, ns=(us * 1000, us * 1000))
    except TypeError:  # before Python 3.3: seconds as a float
        seconds = (us + 0.5) / 1e6
        os.utime(path, (seconds, seconds))


def lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def remove(path):
    st = lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        # a read-only directory's entries cannot be removed before it is writable
        for root, dirs, files in os.walk(path):
            os.chmod(root, 0o700)
        shutil.rmtree(path)
    else:
        os.unlink(path)


def sha256_of(path):
    digest = hashlib.sha256()
    f = open(path, "rb")
    try:
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            digest.update(data)
    finally:
        f.close()
    return digest.hexdigest()


class Receiver(object):
    def __init__(self, channel, dest, delete):
        self.channel = channel
        self.dest = os.path.abspath(native(dest))
        self.delete = delete
        self.entries = []
        self.needs = []
        self.dirs = []  # (path, mode), applied last: a read-only one must stay writable meanwhile
        self.names = {}  # directory path -> the names the listing has in it

    def path(self, rel):
        return os.path.join(self.dest, *[native(p) for p in checked(rel)])

    def run(self):
        while True:
            message = self.channel.receive()
            if message[0] == "listed":
                break
            for entry in message[1]:
                self.entries.append(entry)
                self.apply(len(self.entries) - 1, entry)
        deleted = self.remove_others() if self.delete else 0
        self.channel.send(["listed", len(self.needs)])
        for index in self.needs:
            self.receive_file(index)
        for path, mode in reversed(self.dirs):
            os.chmod(path, mode)
        self.channel.send(["done", deleted])

    def apply(self, index, entry):
        rel, kind, mode, size, mtime, target = entry
        path = self.path(rel)
        if rel:
            parent, name = os.path.split(path)
            self.names.setdefault(parent, set()).add(name)
        st = lstat(path)
        if kind == "d":
            if st is not None and not stat.S_ISDIR(st.st_mode):
                remove(path)
                st = None
            if st is None:
                try:
                    os.makedirs(path)
                except OSError:
                    if not os.path.isdir(path):  # another gateway may have made it
                        raise
            os.chmod(path, mode | 0o700)
            self.names.setdefault(path, set())
            self.dirs.append((path, mode))
        elif kind == "f":
            checksum = None
            if st is not None and stat.S_ISREG(st.st_mode):
                if st.st_size == size and mtime_us(st) == mtime:
                    if stat.S_IMODE(st.st_mode) != mode:
                        os.chmod(path, mode)
                    return
                if st.st_size == size:
                    checksum = sha256_of(path)
            elif st is not None:
                remove(path)
            self.needs.append(index)
            self.channel.send(["need", index, checksum])
        elif kind in ("l", "L"):
            if kind == "L":
                target = self.path(target)
            target = native(target)
            if st is not None:
                if stat.S_ISLNK(st.st_mode) and os.readlink(path) == target:
                    return
                remove(path)
            try:
                os.symlink(target, path)
            except OSError:
                if not (os.path.islink(path) and os.readlink(path) == target):
                    raise
        else:
            raise ValueError("rsync: unknown kind %r" % (kind,))

    def remove_others(self):
        deleted = 0
        for directory, names in self.names.items():
            for name in os.listdir(directory):
                if name not in names:
                    remove(os.path.join(directory, name))
                    deleted += 1
        return deleted

    def receive_file(self, index):
        rel, kind, mode, size, mtime, target = self.entries[index]
        path = self.path(rel)
        message = self.channel.receive()
        if message[0] == "same":
            os.chmod(path, mode)
            set_mtime(path, mtime)
            self.channel.send(["kept", index])
            return
        if message[0] == "gone":
            return
        head, tail = os.path.split(path)
        # unique: two gateways on one host may sync into the same directory
        temporary = os.path.join(head, ".%s.%d-%s.rsync-tmp" % (tail, os.getpid(), binascii.hexlify(os.urandom(4)).decode("ascii")))
        f = open(temporary, "wb")
        written = 0
        try:
            while True:
                data = self.channel.receive()
                if isinstance(data, list):
                    break
                f.write(data)
                written += len(data)
        finally:
            f.close()
        if data[0] == "gone":
            os.unlink(temporary)
            return
        os.chmod(temporary, mode)
        set_mtime(temporary, mtime)
        os.rename(temporary, path)
        self.channel.send(["wrote", index, written])


def serve(channel, dest, delete=False):
    Receiver(channel, dest, delete).run()
