"""Turn what a receiver knows about the sender into an IP address that can be looked up.

gRPC reports its peer as ``ipv4:10.1.2.3:5555`` or ``ipv6:[fd00::1]:5555`` (grpc-core URI form,
brackets sometimes percent-encoded), aiohttp as the bare address ``10.1.2.3``; an
``X-Forwarded-For`` header is a comma-separated chain whose first element is the original client
(https://developer.mozilla.org/docs/Web/HTTP/Headers/X-Forwarded-For). Unix sockets and anything
unparseable give ``None``: no lookup, never an exception on the hot path.
"""

from __future__ import annotations

import ipaddress


def peer_ip(peer: str | None) -> str | None:
    """The sender's IP address in canonical text form, or ``None``.

    >>> peer_ip("ipv4:10.1.2.3:5555"), peer_ip("ipv6:%5B::1%5D:80"), peer_ip("10.1.2.3, 10.0.0.9")
    ('10.1.2.3', '::1', '10.1.2.3')
    """
    if not peer:
        return None
    if "," in peer:  # an X-Forwarded-For chain: the first hop is the client
        peer = peer.split(",", 1)[0]
    peer = peer.strip()
    if peer.startswith("ipv4:"):
        host = peer[5:].rpartition(":")[0] or peer[5:]
    elif peer.startswith("ipv6:"):
        rest = peer[5:].replace("%5B", "[").replace("%5D", "]").replace("%5b", "[").replace("%5d", "]")
        host = rest[1 : rest.index("]")] if rest.startswith("[") and "]" in rest else rest
    elif peer.startswith(("unix:", "unix-abstract:")):
        return None
    elif peer.startswith("[") and "]" in peer:  # [v6]:port
        host = peer[1 : peer.index("]")]
    elif peer.count(":") == 1:  # v4:port
        host = peer.partition(":")[0]
    else:
        host = peer
    host = host.split("%", 1)[0]  # zone index (fe80::1%eth0)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # dual-stack sockets report v4 clients as ::ffff:a.b.c.d
    return str(address)
