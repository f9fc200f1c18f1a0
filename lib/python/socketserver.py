# -*- coding: ascii -*-
"""execnet for TypeScript: a socket server that starts workers.

Unlike execnet's socketserver.py, which executes whatever any client sends,
this one starts a worker only for a client that proves it holds the
server's secret, and listens on 127.0.0.1 unless told otherwise:

  python socketserver.py --secret-file FILE [--host 127.0.0.1] [--port 8888] [--python PYTHON]
  (or the secret in the EXECNET_SECRET environment variable)

Per connection: the server sends "EXECNET-AUTH 1 <nonce>\\n"; the client
answers with hex(HMAC-SHA256(secret, nonce)) and a newline; a wrong answer,
or none within 10 s, closes the connection with nothing run. After "OK\\n"
the server starts `PYTHON -u -c <execnet's bootstrap line>` with the
connection as its stdin and stdout, and the client bootstraps it exactly
as over a pipe. The worker's stderr is the server's. Runs on Python 2.7
to 3.13.

Run by a gateway instead (a `socket//installvia=ID` spec: remoteExec with
call='serve_one'), it serves one connection: it listens, sends
("listening", host, port) on its channel, and starts a worker for the one
client that proves the secret the master sent along; then it stops
listening and waits for that worker to end.
"""

import binascii
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading

BOOTSTRAP_LINE = "import sys;exec(eval(sys.stdin.readline()))"
AUTH_TIMEOUT = 10.0


def log(message):
    sys.stderr.write("execnet socketserver: %s\n" % message)
    sys.stderr.flush()


def readline(conn, limit):
    data = b""
    while not data.endswith(b"\n"):
        if len(data) >= limit:
            return None
        byte = conn.recv(1)
        if not byte:
            return None
        data += byte
    return data.strip()


def handle(conn, address, secret, python):
    try:
        conn.settimeout(AUTH_TIMEOUT)
        nonce = binascii.hexlify(os.urandom(16))
        conn.sendall(b"EXECNET-AUTH 1 " + nonce + b"\n")
        answer = readline(conn, 200)
        expected = binascii.hexlify(hmac.new(secret, nonce, hashlib.sha256).digest())
        if answer is None or not hmac.compare_digest(answer, expected):
            log("refused %s:%s: it did not prove it holds the secret" % address[:2])
            try:
                conn.sendall(b"REFUSED\n")
            except socket.error:
                pass
            return
        conn.sendall(b"OK\n")
        conn.settimeout(None)
        # the worker's small frames (answers, credit) leave at once, not
        # after Nagle's wait for the master's ACK; the option belongs to the
        # socket, which the worker's stdin and stdout are
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (socket.error, AttributeError):
            pass
        # close_fds: Python 2's default (False) leaves every descriptor of
        # the server open in the worker, the listening socket and other
        # clients' connections among them; Python 3 closes them by default
        worker = subprocess.Popen([python, "-u", "-c", BOOTSTRAP_LINE],
                                  stdin=conn.fileno(), stdout=conn.fileno(), close_fds=True)
        conn.close()  # the worker holds its own copies
        log("worker %d for %s:%s" % ((worker.pid,) + tuple(address[:2])))
        worker.wait()
    except Exception:
        log("connection from %s:%s failed: %s" % (address[0], address[1], sys.exc_info()[1]))
    finally:
        try:
            conn.close()
        except Exception:
            pass


def serve_one(channel, host, port, secret, timeout):
    try:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind((host, port))
        server.listen(1)
    except (socket.error, OSError, IOError):
        channel.send(("error", "cannot listen on %s:%s: %s" % (host, port, sys.exc_info()[1])))
        return
    realhost, realport = server.getsockname()[:2]
    channel.send(("listening", realhost, realport))
    try:
        # the master connects at once; nobody else is to be served here
        server.settimeout(timeout)
        try:
            conn, address = server.accept()
        except socket.timeout:
            log("nobody connected to %s:%d within %s s" % (realhost, realport, timeout))
            return
    finally:
        server.close()
    conn.settimeout(None)
    handle(conn, address, secret.encode("ascii"), sys.executable)


def main(argv):
    options = {"--host": "127.0.0.1", "--port": "8888", "--secret-file": None, "--python": sys.executable}
    args = list(argv)
    while args:
        key = args.pop(0)
        if key not in options or not args:
            sys.stderr.write(__doc__)
            return 2
        options[key] = args.pop(0)
    if options["--secret-file"] is not None:
        with open(options["--secret-file"], "rb") as f:
            secret = f.read().strip()
    else:
        secret = os.environ.get("EXECNET_SECRET", "").encode("utf-8")
    if not secret:
        log("no secret (--secret-file or EXECNET_SECRET): refusing to serve code to anyone who connects")
        return 2
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((options["--host"], int(options["--port"])))
    server.listen(16)
    host, port = server.getsockname()[:2]
    sys.stdout.write("listening on %s:%d\n" % (host, port))
    sys.stdout.flush()
    try:
        while True:
            conn, address = server.accept()
            thread = threading.Thread(target=handle, args=(conn, address, secret, options["--python"]))
            thread.daemon = True
            thread.start()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
