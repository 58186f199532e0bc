#!/usr/bin/env python3
"""Probe agent of the netfilter lab (tests/netfilter_support/mod.rs).

One process serves, one probes, for every namespace of a lab: each socket is
created after the creating thread entered the namespace (setns), and keeps
that namespace for its life.

  probe.py serve
      Reads one JSON line [[NETNS, [ADDR, ...], ["tcp/80", "udp/53", ...]], ...]
      on stdin, listens in NETNS on every ADDR for every PORT and echoes what
      arrives. Prints "ready" once bound; exits when stdin closes (the test ended).
  probe.py probe TIMEOUT
      Reads JSON probes [[id, NETNS, proto, src, dst, port], ...] on stdin and
      runs them in parallel from NETNS (proto tcp or udp, or icmp / icmpv6 for
      an echo request); prints {"id": result} where result is "open" (the echo
      came back: the connection and its replies passed), "blocked" (no answer
      before TIMEOUT seconds, or the sender's own firewall refused to send it:
      EPERM), "refused" or "error: ...".
Standard library only (ctypes for setns); every wait is bounded by TIMEOUT.
"""
import ctypes
import json
import os
import resource
import selectors
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
NS_FDS = {}
NS_LOCK = threading.Lock()
# Probes in flight at once; each holds a socket, and a blocked one a thread for TIMEOUT.
WORKERS = 800


def enter(ns):
    """Moves the calling thread into network namespace `ns` (a name under /run/netns)."""
    with NS_LOCK:
        fd = NS_FDS.get(ns)
        if fd is None:
            fd = os.open("/run/netns/" + ns, os.O_RDONLY | os.O_CLOEXEC)
            NS_FDS[ns] = fd
    if LIBC.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns %s: %s" % (ns, os.strerror(err)))


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


PAYLOAD = b"moat-probe\n"


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(hosts):
    sel = selectors.DefaultSelector()
    for ns, addrs, specs in hosts:
        enter(ns)
        for addr in addrs:
            for spec in specs:
                proto, port = spec.split("/")
                kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
                s = socket.socket(family(addr), kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family(addr) == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, int(port)))
                if kind == socket.SOCK_STREAM:
                    s.listen(1024)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, proto)
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s, what = key.fileobj, key.data
            try:
                if what == "stdin":
                    if not sys.stdin.readline():
                        return
                elif what == "tcp":
                    conn, _ = s.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                elif what == "conn":
                    data = s.recv(4096)
                    if data:
                        s.sendall(data)
                    sel.unregister(s)
                    s.close()
                else:
                    data, peer = s.recvfrom(4096)
                    s.sendto(data, peer)
            except OSError:
                pass


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(s, pid, src, dst, timeout):
    """An ICMP (or ICMPv6) echo on raw socket `s`; True when the reply arrives."""
    v6 = family(dst) == socket.AF_INET6
    ident = (os.getpid() * 131 + pid) & 0xFFFF
    req, rep = (128, 129) if v6 else (8, 0)
    s.bind((src, 0))
    head = struct.pack("!BBHHH", req, 0, 0, ident, 1)
    cs = 0 if v6 else checksum(head + PAYLOAD)  # the kernel fills in ICMPv6 checksums
    s.sendto(struct.pack("!BBHHH", req, 0, cs, ident, 1) + PAYLOAD, (dst, 0))
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        s.settimeout(left)
        data, peer = s.recvfrom(4096)
        if not v6:
            data = data[(data[0] & 0x0F) * 4:]
        if peer[0] == dst and len(data) >= 8 and data[0] == rep and struct.unpack("!H", data[4:6])[0] == ident:
            return True


def echo(s, src, dst, port, timeout):
    """A TCP connection or UDP exchange on `s`; True when the payload comes back."""
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((dst, port))
    s.sendall(PAYLOAD)
    data = s.recv(4096)
    if data != PAYLOAD:
        raise OSError("bad echo %r" % data)
    return True


def probe_one(p, timeout):
    pid, ns, proto, src, dst, port = p
    try:
        enter(ns)
    except OSError as e:
        return pid, "error: %s" % e
    fam = family(dst)
    if proto in ("icmp", "icmpv6"):
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 else socket.IPPROTO_ICMP)
    else:
        s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto in ("icmp", "icmpv6"):
            ping(s, pid, src, dst, timeout)
        else:
            echo(s, src, dst, port, timeout)
        return pid, "open"
    except socket.timeout:
        return pid, "blocked"
    except ConnectionRefusedError:
        return pid, "refused"
    except PermissionError:
        # EPERM: the sender's own OUTPUT chain dropped the packet (host mode).
        return pid, "blocked"
    except OSError as e:
        return pid, "error: %s" % e
    finally:
        s.close()


def probe(timeout):
    probes = json.load(sys.stdin)
    out = {}
    if probes:
        with ThreadPoolExecutor(max_workers=min(len(probes), WORKERS)) as ex:
            for pid, res in ex.map(lambda p: probe_one(p, timeout), probes):
                out[pid] = res
    json.dump(out, sys.stdout)


def main():
    raise_fd_limit()
    if sys.argv[1] == "serve":
        serve(json.loads(sys.stdin.readline()))
    else:
        probe(float(sys.argv[2]))


if __name__ == "__main__":
    main()
