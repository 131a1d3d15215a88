"""Where notifications may go: a webhook or Slack URL must not reach inside the network LeadRelay runs in.

A playbook is written by marketing; without this, a webhook to `http://169.254.169.254/` (a
cloud's metadata service), `http://127.0.0.1:5432/` or `http://10.0.0.7/admin` would make the
worker fetch internal pages for them. Targets are checked after DNS resolution — a name that
resolves to a private address is refused like the address itself, whatever its spelling
(`0x7f.1`, `[::ffff:127.0.0.1]`, `localhost`) — unless the operator allows private targets
(`LEADRELAY_PRIVATE_WEBHOOKS=true`: an internal CRM, a receiver on the same host).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

ALLOW_HINT = "set LEADRELAY_PRIVATE_WEBHOOKS=true to allow receivers inside your network"


def refused(url: str, *, allow_private: bool) -> str | None:
    """Why LeadRelay will not send to `url`, or None when it may. A name that does not resolve is let through:
    the attempt then fails with the resolver's own error, and is retried."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"{url}: only http and https URLs are sent to"
    host = parts.hostname
    if not host:
        return f"{url}: no host"
    if allow_private:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"{url}: the port is not a number from 0 to 65535"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        kind = _internal(ip)
        if kind:
            shown = host if host == str(ip) else f"{host} ({ip})"
            return f"{shown} is a {kind} address: refused ({ALLOW_HINT})"
    return None


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_unspecified:
        return "reserved"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved or ip.is_multicast:
        return "reserved"
    return None
