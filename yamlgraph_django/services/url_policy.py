"""Where the server may POST a webhook: the policy that keeps an API user from making it
call into its own network (the app itself, its Redis, a cloud metadata service).

Like the LangGraph server's: https only unless DEBUG (WEBHOOK_REQUIRE_HTTPS says
otherwise when set); an optional allow-list of hosts (WEBHOOK_ALLOWED_HOSTS: exact
names, or "*.example.com" for the subdomains of a domain, not the domain itself); every address the host resolves to must be public: loopback, private,
link-local, shared, reserved, multicast and unspecified addresses are refused unless
WEBHOOK_ALLOW_PRIVATE. The address is checked when the URL is given and again when
the POST connects (the connection goes to the address that was checked, so a DNS
answer that changes in between cannot slip through). Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import InvalidInput

FIELD = "webhook"


class BlockedAddress(OSError):
    """A webhook host resolved to an address the policy refuses (at connection time)."""


def is_public(address: str) -> bool:
    """A globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_allowed(host: str) -> bool:
    """Is `host` on WEBHOOK_ALLOWED_HOSTS (always, when the list is None)?"""
    allowed = app_settings.WEBHOOK_ALLOWED_HOSTS
    if allowed is None:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = str(entry).lower().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
        if host == entry:
            return True
    return False


def https_required() -> bool:
    """WEBHOOK_REQUIRE_HTTPS, or (None) whenever DEBUG is off."""
    required = app_settings.WEBHOOK_REQUIRE_HTTPS
    return (not settings.DEBUG) if required is None else bool(required)


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (OSError when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_webhook_url(url: str) -> None:
    """InvalidInput (400 naming `webhook`) unless the policy lets the server POST to
    `url`; see the module docstring."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" and https_required():
        raise InvalidInput(
            errors={
                FIELD: "must be an https:// URL (http:// only with DEBUG or "
                "YAMLGRAPH['WEBHOOK_REQUIRE_HTTPS'] = False)"
            }
        )
    if not host_allowed(host):
        raise InvalidInput(
            errors={FIELD: f"host '{host}' is not in YAMLGRAPH['WEBHOOK_ALLOWED_HOSTS']"}
        )
    if app_settings.WEBHOOK_ALLOW_PRIVATE:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except OSError:
        raise InvalidInput(errors={FIELD: f"host '{host}' does not resolve"}) from None
    blocked = [a for a in addresses if not is_public(a)]
    if blocked:
        raise InvalidInput(
            errors={
                FIELD: f"host '{host}' resolves to a loopback, private or link-local address "
                f"({', '.join(blocked)}); set YAMLGRAPH['WEBHOOK_ALLOW_PRIVATE'] to allow it"
            }
        )


def vetted_connection() -> Callable[..., socket.socket]:
    """A `socket.create_connection` that connects only to addresses the policy allows
    (resolved once, and the checked address is the one connected to)."""

    def create_connection(
        address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT, *args: Any
    ) -> socket.socket:
        host, port = address
        if app_settings.WEBHOOK_ALLOW_PRIVATE:
            return socket.create_connection(address, timeout, *args)
        last: OSError | None = None
        for candidate in resolve(host, port):
            if not is_public(candidate):
                last = BlockedAddress(f"{host} resolves to a non-public address {candidate}")
                continue
            try:
                return socket.create_connection((candidate, port), timeout, *args)
            except OSError as exc:
                last = exc
        raise last or OSError(f"{host} has no address")

    return create_connection
