# bench/bulk: the consumer, remote code for ours and execnet alike.
# Receives the sleep per chunk, then chunks until None; numpy sums each.
import re, time, numpy
def hwm():
    with open('/proc/self/status') as f:
        return int(re.search(r'VmHWM:\s+(\d+) kB', f.read()).group(1)) * 1024
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
start = hwm()
sleep = channel.receive()
n = total = 0
for chunk in iter(channel.receive, None):
    total += int(numpy.frombuffer(chunk, 'u1').sum())
    n += len(chunk)
    if sleep:
        time.sleep(sleep)
channel.send((n, total, start, hwm()))
