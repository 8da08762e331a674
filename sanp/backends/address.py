"""A Ray cluster's address, checked before any connection is tried.

    >>> parse_address("127.0.0.1:6379")
    ('127.0.0.1', 6379)
"""
from __future__ import annotations

import ipaddress
import re

from sanp.errors import BackendError

_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of a Ray cluster address `HOST:PORT` (an IPv6 host in brackets:
    `[::1]:6379`); BackendError for anything else, before any connection is tried."""
    fix = "give the HOST:PORT that `ray start --head` prints, e.g. --address 192.168.1.10:6379"
    shown = text if len(text) <= 60 else text[:57] + "..."
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit():
        raise BackendError(f"--address {shown!r} is not HOST:PORT; {fix}")
    if not 1 <= int(port) <= 65535:
        raise BackendError(f"--address {shown!r}: port {int(port)} is not in 1-65535; {fix}")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise BackendError(f"--address {shown!r}: {host[:60]!r} is not an IPv6 address; {fix}") from None
        return host[1:-1], int(port)
    if not _HOSTNAME.fullmatch(host):
        raise BackendError(f"--address {shown!r}: {host[:60]!r} is not a host name or IP address; {fix}")
    return host, int(port)
