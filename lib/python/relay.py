"""The via transport's relay, run by remoteExec in the gateway a via= spec
goes through: it starts the relayed worker (relay: a child process, for
popen and ssh specs) or connects to it (relay_socket: a socket server), and
moves the relayed gateway's bytes between that and a channel, with the
child's stderr and exit status on a second (control) channel.

Runs on every interpreter the worker runs on (2.7 to 3.13, PyPy, Jython).
"""
import os, subprocess, threading

PIPE_GRACE = 2.0  # seconds the child's pipes may outlive it before its exit is reported

def relay(channel, argv, cwd, env):
    environ = dict(os.environ)
    environ.update(env)
    try:
        if cwd and not os.path.isdir(cwd):
            os.makedirs(cwd)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd or None, env=environ)
    except (OSError, IOError) as error:
        channel.send(("error", "cannot start %s: %s" % (argv[0], error)))
        return
    control = channel.receive()
    channel.send(("pid", proc.pid))

    def pump(source, target, end):
        fd = source.fileno()
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except (OSError, IOError):
                    data = b""
                if not data:
                    break
                # bytes on both lines (Python 2's str would arrive as a string)
                target.send(bytearray(data) if str is bytes else data)
        finally:
            end()

    def stdout_ended():
        stdout_done.set()
        control.send(("eof",))

    # the master learns of the child's end as it happens, not when it ends
    # its side of the relay: a child that dies or closes its stdout while
    # the master waits for an answer must not leave the master waiting
    stdout_done = threading.Event()
    stderr_done = threading.Event()
    threads = [threading.Thread(target=pump, args=(proc.stdout, channel, stdout_ended)),
               threading.Thread(target=pump, args=(proc.stderr, control, stderr_done.set))]
    for thread in threads:
        thread.daemon = True
        thread.start()

    def reap():
        code = proc.wait()
        # its exit after what it printed, so the master's stderr is whole;
        # but a grandchild that inherited the pipes must not hold it back
        stderr_done.wait(PIPE_GRACE)
        stdout_done.wait(PIPE_GRACE)
        control.send(("exit", code))
    reaper = threading.Thread(target=reap)
    reaper.daemon = True
    reaper.start()

    def kill_on_request():
        for message in control:
            if message == "kill" and proc.poll() is None:
                proc.kill()
    killer = threading.Thread(target=kill_on_request)
    killer.daemon = True
    killer.start()
    for data in channel:
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (OSError, IOError):
            break  # the child is gone; the reaper reports how it ended
    try:
        proc.stdin.close()
    except (OSError, IOError):
        pass
    reaper.join()

def relay_socket(channel, host, port):
    import socket
    try:
        sock = socket.create_connection((host, port), 10)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, IOError, socket.error) as error:
        channel.send(("error", "cannot connect to %s:%s: %s" % (host, port, error)))
        return
    control = channel.receive()
    channel.send(("pid", None))  # a connection: no process of its own
    ended = []
    killed = []

    def close():
        if not ended:
            ended.append(True)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, IOError, socket.error):
                pass

    def pump():
        while True:
            try:
                data = sock.recv(65536)
            except (OSError, IOError, socket.error):
                data = b""
            if not data:
                break
            channel.send(bytearray(data) if str is bytes else data)
        close()
        control.send(("exit", -9 if killed else 0))

    def kill_on_request():
        for message in control:
            if message == "kill":
                killed.append(True)
                close()
    threads = [threading.Thread(target=pump), threading.Thread(target=kill_on_request)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for data in channel:
        try:
            sock.sendall(data)
        except (OSError, IOError, socket.error):
            break
    try:
        sock.shutdown(socket.SHUT_WR)
    except (OSError, IOError, socket.error):
        pass
    threads[0].join()  # what the server still sends, then its close
