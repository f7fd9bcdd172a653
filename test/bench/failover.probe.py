#!/usr/bin/env python3
"""Continuous ARP prober for the failover benchmark (stdlib only; run inside the client namespace).

    failover.probe.py IFACE SOURCE_IP INTERVAL_MS VIP...

Every INTERVAL_MS it broadcasts one ARP who-has per VIP from IFACE (sender = SOURCE_IP and the
interface's MAC, so the client kernel also sees the replies), and prints on stdout, with
wall-clock timestamps in milliseconds (float):

    change <ts> <vip> <mac>          the MAC answering for <vip> differs from the previous one
    dual <ts> <vip> <mac1> <mac2>    two different MACs answered the same round (split brain)
    stats <ts> <vip> <sent> <replied-rounds> <replies>   on "stats" on stdin; counters reset
    frame <ts> <vip> <mac>           with L2LB_PROBE_FRAMES=1: every ARP frame sent from <vip>
                                     (answers to anyone, gratuitous ARP), not only changes

A round counts as replied when at least one reply for that VIP arrives before the next round
(a reply delayed past the next send, e.g. on a busy machine, leaves its round unreplied);
<replies> counts every reply frame, late or not, so sent - replies is the requests never answered.
"""
import os
import select
import socket
import struct
import sys
import time


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def main():
    iface, sip, interval_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    vips = sys.argv[4:]
    with open(f"/sys/class/net/{iface}/address") as f:
        my_mac = mac_bytes(f.read().strip())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind((iface, 0))
    s.setblocking(False)
    sip_b = socket.inet_aton(sip)
    frames = {}
    for vip in vips:
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, my_mac, sip_b, b"\0" * 6, socket.inet_aton(vip))
        frames[vip] = b"\xff" * 6 + my_mac + b"\x08\x06" + arp + b"\0" * 18
    by_ip = {socket.inet_aton(v): v for v in vips}
    last_mac = {v: None for v in vips}
    round_macs = {v: set() for v in vips}
    sent = {v: 0 for v in vips}
    replied = {v: 0 for v in vips}
    replies = {v: 0 for v in vips}
    interval = interval_ms / 1000.0
    next_round = time.monotonic()
    out = sys.stdout
    every_frame = os.environ.get("L2LB_PROBE_FRAMES") == "1"

    def close_round():
        for v in vips:
            if round_macs[v]:
                replied[v] += 1
                if len(round_macs[v]) > 1:
                    macs = sorted(round_macs[v])
                    out.write(f"dual {time.time() * 1000:.3f} {v} {' '.join(macs)}\n")
            round_macs[v] = set()

    first = True
    while True:
        now = time.monotonic()
        if now >= next_round:
            if not first:
                close_round()
            first = False
            for v in vips:
                s.send(frames[v])
                sent[v] += 1
            next_round += interval
            if next_round < now:
                next_round = now + interval
            out.flush()
        timeout = max(0.0, next_round - time.monotonic())
        r, _, _ = select.select([s, sys.stdin], [], [], timeout)
        if sys.stdin in r:
            line = sys.stdin.readline()
            if not line:
                return
            if line.strip() == "stats":
                ts = time.time() * 1000
                for v in vips:
                    out.write(f"stats {ts:.3f} {v} {sent[v]} {replied[v]} {replies[v]}\n")
                    sent[v] = 0
                    replied[v] = 0
                    replies[v] = 0
                out.flush()
        if s in r:
            while True:
                try:
                    frame = s.recv(256)
                except BlockingIOError:
                    break
                if len(frame) < 42 or frame[12:14] != b"\x08\x06":
                    continue
                op = struct.unpack("!H", frame[20:22])[0]
                spa = frame[28:32]
                v = by_ip.get(spa)
                if v is None:
                    continue
                mac = ":".join(f"{b:02x}" for b in frame[22:28])
                if every_frame:
                    out.write(f"frame {time.time() * 1000:.3f} {v} {mac}\n")
                    out.flush()
                if op != 2 or frame[38:42] != sip_b:
                    continue
                round_macs[v].add(mac)
                replies[v] += 1
                if mac != last_mac[v]:
                    last_mac[v] = mac
                    out.write(f"change {time.time() * 1000:.3f} {v} {mac}\n")
                    out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        os._exit(0)
