# bench/bulk: the producer, remote code for ours and execnet alike.
# Receives (size, count), numpy-sums and sends the same chunk count times.
import re, numpy
def hwm():
    with open('/proc/self/status') as f:
        return int(re.search(r'VmHWM:\s+(\d+) kB', f.read()).group(1)) * 1024
size, count = channel.receive()
data = numpy.ones(size, 'u1').tobytes()
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
start = hwm()
for i in range(count):
    int(numpy.frombuffer(data, 'u1').sum())
    channel.send(data)
channel.send((start, hwm()))
