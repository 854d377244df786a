#!/usr/bin/env python3
"""Redis's own CPU per relayed frame, three ways of sending 30 frames of 700 bytes.

    tests/bench/publish_cost.py PORT MODE [BATCHES]

MODE:
  publish  30 pipelined PUBLISHes, one per seat channel (what a node sends
           today: each frame to its seat's channel)
  batch    one PUBLISH of the 30 frames to one node channel
  lua      one EVALSHA that checks each seat channel (PUBSUB NUMSUB) and
           publishes the frames that have a listener as one node message
One subscriber connection listens on the node channel and the 30 seat
channels. Prints redis-server's CPU (INFO cpu, user + sys) per frame.
BENCHMARKS.md ("The floor of one PUBLISH per frame") has the figures.
"""
import socket
import sys
import threading
import time

port, mode = int(sys.argv[1]), sys.argv[2]
batches = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
per, payload = 30, b'x' * 700


def enc(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


def connect():
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


channels = [b'sig:seat:%06d:1:conn%d' % (i, i) for i in range(per)]
sub = connect()
sub.sendall(enc('SUBSCRIBE', 'sig:node:b', *channels))
done = False


def drain():
    sub.settimeout(0.5)
    while not done:
        try:
            if not sub.recv(1 << 20):
                break
        except socket.timeout:
            pass


reader = threading.Thread(target=drain)
reader.start()
c = connect()


def command(*args):
    c.sendall(enc(*args))
    return c.recv(1 << 16)


LUA = b"""local heard = {} local out = {}
for i = 1, #ARGV, 2 do
  local n = redis.call('PUBSUB', 'NUMSUB', ARGV[i])[2]
  heard[#heard + 1] = n
  if n > 0 then out[#out + 1] = ARGV[i + 1] end
end
if #out > 0 then redis.call('PUBLISH', KEYS[1], table.concat(out, '\\n')) end
return heard"""
sha = command('SCRIPT', 'LOAD', LUA).split(b'\r\n')[1]


def redis_cpu():
    info = command('INFO', 'cpu').decode()
    fields = dict(line.split(':', 1) for line in info.split('\r\n') if ':' in line)
    return float(fields['used_cpu_user']) + float(fields['used_cpu_sys'])


time.sleep(0.2)  # the subscriptions are in place
lines_per_batch = {'publish': per, 'batch': 1, 'lua': per + 1}[mode]
cpu0 = redis_cpu()
for _ in range(batches):
    if mode == 'publish':
        c.sendall(b''.join(enc('PUBLISH', ch, payload) for ch in channels))
    elif mode == 'batch':
        c.sendall(enc('PUBLISH', 'sig:node:b', b'\n'.join(payload for _ in channels)))
    else:
        args = []
        for ch in channels:
            args += [ch, payload]
        c.sendall(enc('EVALSHA', sha, 1, 'sig:node:b', *args))
    got = b''
    while got.count(b'\r\n') < lines_per_batch:
        got += c.recv(1 << 16)
cpu1 = redis_cpu()
done = True
reader.join()
print(f"{mode}: redis-server CPU per frame {(cpu1 - cpu0) / (batches * per) * 1e6:.2f} us")
