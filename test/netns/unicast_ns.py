#!/usr/bin/env python3
"""Sends COUNT Neighbor Solicitations for TARGET6 unicast to TARGET6 itself at MAC (as a host's
neighbour unreachability detection does) and counts the Neighbor Advertisements for TARGET6 that
come back.  Usage: unicast_ns.py IFACE TARGET6 MAC COUNT.  Prints `sent=N replies=M`."""
import socket, struct, sys, time

iface, target, mac, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dst_mac = bytes.fromhex(mac.replace(':', ''))
src_mac = bytes.fromhex(open(f'/sys/class/net/{iface}/address').read().strip().replace(':', ''))
target_b = socket.inet_pton(socket.AF_INET6, target)
src_ip = None
for line in open('/proc/net/if_inet6'):
    addr, _, _, scope, _, name = line.split()
    if name == iface and scope == '00':
        src_ip = bytes.fromhex(addr)
        break
if src_ip is None:
    sys.exit(f'{iface} has no global IPv6 address')

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff

body = struct.pack('!BBHI', 135, 0, 0, 0) + target_b + bytes([1, 1]) + src_mac
pseudo = src_ip + target_b + struct.pack('!I3xB', len(body), 58)
body = body[:2] + struct.pack('!H', checksum(pseudo + body)) + body[4:]
frame = dst_mac + src_mac + b'\x86\xdd' + struct.pack('!IHBB', 6 << 28, len(body), 58, 255) + src_ip + target_b + body

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
sock.bind((iface, 0))
sock.settimeout(0.05)
replies = 0
for _ in range(count):
    sock.send(frame)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        try:
            data = sock.recv(2048)
        except socket.timeout:
            continue
        # Ethernet(14) + IPv6(40): next header 58, ICMPv6 type 136, target at offset 62.
        if len(data) >= 78 and data[20] == 58 and data[54] == 136 and data[62:78] == target_b:
            replies += 1
            break
print(f'sent={count} replies={replies}')
