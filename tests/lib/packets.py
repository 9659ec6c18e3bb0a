"""Packets built by hand, as a tenant with CAP_NET_RAW (or a router) sends them: a TCP SYN on an
AF_PACKET socket, and an IPv6 router advertisement on a raw ICMPv6 socket."""

import random
import socket
import struct
import time

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

ETH_P_IP = 0x0800
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
ICMPV6_ROUTER_ADVERTISEMENT = 134
ALL_NODES = "ff02::1"


def checksum(data):
    """The internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def answered(sock, timeout, is_answer):
    """Whether a packet for which is_answer(data) holds arrives on sock within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(2048)
        except socket.timeout:
            return False
        if is_answer(data):
            return True
    return False


def _syn_frame(src_mac, dst_mac, src_ip, dst_ip, src_port, dst_port):
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, random.getrandbits(32), 0, 5 << 4, TCP_SYN, 64240, 0, 0)
    tcp_sum = checksum(src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", tcp_sum) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + tcp


def syn_answered(netns_path, ifname, dst_mac, src_ip, dst_ip, dst_port, timeout=1.0):
    """Send one TCP SYN, built by hand, from the interface `ifname` of the namespace at netns_path to
    the link-layer address dst_mac (such as the gateway's), for dst_ip:dst_port; return whether any
    TCP answer (SYN-ACK or RST) from dst_ip:dst_port comes back to it."""
    with netns.entered(netns_path):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    src_port = random.randint(20000, 40000)

    def is_answer(frame):
        ip = frame[14:]
        if len(ip) < 40 or ip[9] != socket.IPPROTO_TCP or socket.inet_ntoa(ip[12:16]) != dst_ip:
            return False
        tcp = ip[(ip[0] & 0x0F) * 4:]
        return struct.unpack("!HH", tcp[:4]) == (dst_port, src_port) and bool(tcp[13] & (TCP_SYN | TCP_RST))

    with sock:
        sock.bind((ifname, ETH_P_IP))
        sock.send(_syn_frame(sock.getsockname()[4], bytes.fromhex(dst_mac.replace(":", "")), src_ip, dst_ip,
                             src_port, dst_port))
        return answered(sock, timeout, is_answer)


def send_router_advertisement(netns_path, ifname, lifetime=1800):
    """Send an IPv6 router advertisement (default router, no prefix) to all nodes on `ifname`, as
    radvd would; the kernel fills in the source (the link-local address) and the checksum."""
    with netns.entered(netns_path):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        index = socket.if_nametoindex(ifname)  # names are looked up in the calling thread's namespace
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        # type, code, checksum, current hop limit, flags, router lifetime, reachable time, retransmit timer
        advertisement = struct.pack("!BBHBBHII", ICMPV6_ROUTER_ADVERTISEMENT, 0, 0, 64, 0, lifetime, 0, 0)
        sock.sendto(advertisement, (ALL_NODES, 0, 0, index))
