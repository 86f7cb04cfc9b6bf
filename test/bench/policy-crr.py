"""TCP connect/request/response/close rate for test/bench/policy-bench.ts: every transaction is a new
connection, so every one of them meets the policy's first-packet path (LPM tries or iptables rules).

  server <addr> <port>            accept connections, answer one byte each, until killed
  client <addr> <port> <seconds>  prints {"connections", "seconds", "usPerConnection"}
"""
import json
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    print('ready', flush=True)
    while True:
        conn, _ = s.accept()
        try:
            if conn.recv(1):
                conn.send(b'y')
        except OSError:
            pass
        finally:
            conn.close()


def client(addr, port, seconds):
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        c = socket.create_connection((addr, port), timeout=5)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        c.send(b'x')
        c.recv(1)
        c.close()
        n += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({'connections': n, 'seconds': elapsed, 'usPerConnection': elapsed / n * 1e6}))


if __name__ == '__main__':
    if sys.argv[1] == 'server':
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
