"""TCP request/response (netperf TCP_RR style) for test/bench/veth-vs-bridge.ts.

  server <addr> <port>            accept one connection, echo 1-byte requests until EOF
  client <addr> <port> <seconds>  one connection, 1-byte request -> 1-byte response, as many as
                                  fit in <seconds>; prints {"transactions", "seconds", "usPerTransaction",
                                  "cpuSeconds"}
The server prints {"cpuSeconds"} when the client hangs up. CPU time is user + system of the
process, which (without IRQ time accounting) includes the softirq work done on its behalf.
"""
import json
import resource
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    print('ready', flush=True)
    conn, _ = s.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv, send = conn.recv, conn.send
    start = cpu_seconds()
    while True:
        b = recv(1)
        if not b:
            break
        send(b)
    print(json.dumps({'cpuSeconds': cpu_seconds() - start}), flush=True)


def client(addr, port, seconds):
    c = socket.create_connection((addr, port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv, send, now = c.recv, c.send, time.perf_counter
    for _ in range(1000):  # warm-up: caches, neighbour entries, TCP state
        send(b'x')
        recv(1)
    n = 0
    cpu_start = cpu_seconds()
    start = now()
    deadline = start + seconds
    while True:
        for _ in range(200):
            send(b'x')
            recv(1)
        n += 200
        if now() >= deadline:
            break
    elapsed = now() - start
    cpu = cpu_seconds() - cpu_start
    c.close()
    print(json.dumps({'transactions': n, 'seconds': elapsed, 'usPerTransaction': elapsed / n * 1e6, 'cpuSeconds': cpu}))


if __name__ == '__main__':
    if sys.argv[1] == 'server':
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
