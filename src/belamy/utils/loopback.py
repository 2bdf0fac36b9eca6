"""Who may talk to a server bound to this machine only: the checks the studio and the exhibit share.

A server on 127.0.0.1 is still reachable from any web page the user opens, through DNS rebinding: the
page's own name is made to resolve to 127.0.0.1, and the browser then sends ``Host: <that name>``. So
a loopback server answers only when the Host header names loopback *exactly* — ``localhost``, an IPv4
literal in 127.0.0.0/8, ``::1`` — or the host it was told to bind, with any port. ``127.evil.example``
is a DNS name like any other and is refused.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_PORT = re.compile(r"^[0-9]{1,5}$")


def split_host(host_header: str) -> tuple[str, str | None] | None:
    """``host[:port]`` -> (host, port); IPv6 literals in brackets come back without them. None if malformed."""
    value = host_header.strip()
    if value.startswith("["):
        inside, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and _PORT.match(rest[1:]))):
            return None
        return inside, rest[1:] or None
    name, sep, port = value.rpartition(":")
    if not sep:
        return value, None
    if ":" in name or not _PORT.match(port):  # an unbracketed IPv6 address, or a port that is not a number
        return None
    return name, port


def is_loopback(host: str) -> bool:
    """True for ``localhost``, a 127.0.0.0/8 IPv4 literal or ``::1`` (brackets allowed) — and nothing else."""
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)  # strict: "127.1", "0x7f.1" and "127.0.0.1.example" are not addresses
    except ValueError:
        return False
    return address.is_loopback and (address.version == 4 or address == ipaddress.IPv6Address("::1"))


def host_allowed(host_header: str | None, configured: str) -> bool:
    """Whether a request's Host header names this loopback server (any port)."""
    parts = split_host(host_header or "")
    if parts is None or not parts[0]:
        return False
    name = parts[0]
    wanted = configured.strip().strip("[]")
    return is_loopback(name) or name.lower() == wanted.lower()


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """A browser's Origin (when it sends one) must be this very server; ``null`` never is.

    Clients that send no Origin are not browsers, and a web page cannot make a browser leave it out.
    """
    if origin is None:
        return True
    if origin == "null" or not host_header:
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return netloc.lower() == host_header.strip().lower()
