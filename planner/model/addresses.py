"""Hosts as the network will see them, and the ones llmplan never sends anything to.

Pure and offline: decided from the text of a URL, without DNS. A host is
compared in the form a connection would use: lowercase, internationalized
names in their IDNA (UTS 46) form, one trailing dot dropped, IPv6 literals
without their zone, and IPv4 in every spelling the C library accepts
(``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376``,
``169.254.43518``), so a different spelling of an address is that address.

Some destinations are never a gateway or a webhook receiver, whatever any
list says: link-local addresses (``169.254.0.0/16``, ``fe80::/10``), where
the cloud providers' metadata services answer with the machine's own
credentials, the metadata addresses outside them (AWS ``fd00:ec2::/32``,
Alibaba Cloud ``100.100.100.200``), the same addresses inside IPv6 (mapped,
compatible, NAT64, 6to4, Teredo), and the metadata services' host names.
A name that merely *resolves* to such an address cannot be told from its
text; :mod:`planner.adapters.gateway.guard` checks the address each connection
actually reaches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import Union
from urllib.parse import urlsplit

from planner.model.printable import printable

IPAddress = Union[IPv4Address, IPv6Address]

# 0x…, 0… (octal) or decimal: one part of an IPv4 address as inet_aton reads it
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")

_NEVER_V4 = (
    (ip_network("169.254.0.0/16"), "a link-local address (169.254.0.0/16, where cloud metadata services answer)"),
    (ip_network("100.100.100.200/32"), "a cloud metadata address (Alibaba Cloud)"),
)
_NEVER_V6 = (
    (ip_network("fe80::/10"), "a link-local address (fe80::/10)"),
    (ip_network("fd00:ec2::/32"), "a cloud metadata address (AWS, fd00:ec2::/32)"),
)
_NAT64 = (ip_network("64:ff9b::/96"), ip_network("64:ff9b:1::/48"))
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"})


@dataclass(frozen=True)
class Host:
    """A host in the form a connection uses: ``name`` is the canonical text, ``address`` set for an IP literal."""

    name: str
    address: IPAddress | None = None

    @property
    def is_loopback(self) -> bool:
        """``localhost``, 127.0.0.0/8, ``::1`` (and 127.0.0.0/8 mapped into IPv6)."""
        if self.address is None:
            return self.name == "localhost"
        if isinstance(self.address, IPv6Address) and self.address.ipv4_mapped is not None:
            return self.address.ipv4_mapped.is_loopback
        return self.address.is_loopback


def parse_host(text: str) -> Host:
    """The canonical form of a URL's host (or a host name alone); ValueError when it cannot be one."""
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ":" in host:
        literal = host.partition("%")[0]  # a zone picks the interface, not another address
        try:
            address6 = IPv6Address(literal)
        except ValueError:
            raise ValueError("not a host name or IP address") from None
        return Host(str(address6), address6)
    if not host.isascii():
        import idna  # what requests uses for such names; loaded only for them

        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ValueError("not a valid internationalized host name") from None
    host = host.lower()
    host = host[:-1] if host.endswith(".") else host
    address4 = _ipv4(host)
    if address4 is not None:
        return Host(str(address4), address4)
    if len(host) > 253 or not _NAME.fullmatch(host):
        raise ValueError("not a host name or IP address")
    return Host(host)


def _ipv4(text: str) -> IPv4Address | None:
    """``text`` read as inet_aton reads it: 1 to 4 parts, each decimal, octal or hex, the last filling the rest."""
    parts = text.split(".")
    if len(parts) > 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    values = [int(part[2:] or "0", 16) if part[:2].lower() == "0x" else int(part, 8) if part.startswith("0") else int(part) for part in parts]
    *head, last = values
    if any(value > 0xFF for value in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return IPv4Address(number)


def never_allowed(host: Host) -> str | None:
    """Why nothing may ever be sent to ``host`` (a phrase: "a link-local address (…)"), or None."""
    if host.address is not None:
        return address_never_allowed(host.address)
    if host.name in METADATA_NAMES:
        return "a cloud metadata service's host name"
    return None


def address_never_allowed(address: IPAddress) -> str | None:
    """Why nothing may be sent to ``address``, also when IPv6 carries such an IPv4 address inside."""
    if isinstance(address, IPv4Address):
        return next((reason for network, reason in _NEVER_V4 if address in network), None)
    reason = next((reason for network, reason in _NEVER_V6 if address in network), None)
    if reason is not None:
        return reason
    for inner in _embedded_ipv4(address):
        reason = address_never_allowed(inner)
        if reason is not None:
            return f"{inner} inside an IPv6 address, {reason}"
    return None


def _embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses a packet to ``address`` may end up at: mapped, compatible, NAT64, 6to4, Teredo."""
    found = [inner for inner in (address.ipv4_mapped, address.sixtofour) if inner is not None]
    if address.teredo is not None:
        found.extend(address.teredo)
    low = IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 or any(address in network for network in _NAT64):
        found.append(low)
    return found


def url_refusal(url: str) -> str | None:
    """Why llmplan never sends anything to ``url``, or None; said without repeating the URL.

    Checks what the URL's text can tell: a ``user:password@`` part (a
    secret written where logs and files keep it), a host that is no host,
    and a host that is never allowed. A URL that cannot be split at all is
    left to the checks that explain the URL's form.
    """
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials (user:password@host): a URL is written to files and logs"
    if not hostname:
        return None
    try:
        host = parse_host(hostname)
    except ValueError as error:
        return f"has the host '{printable(hostname)}', which is {error}"
    reason = never_allowed(host)
    return f"host {shown_host(hostname, host)} is not allowed: it is {reason}, never a gateway or a webhook receiver" if reason else None


def shown_host(written: str, host: Host) -> str:
    """The host as written, and its canonical form when that differs (``2852039166 (169.254.169.254)``)."""
    if written.lower().removesuffix(".") == host.name:
        return host.name
    return f"{printable(written)} ({host.name})"
