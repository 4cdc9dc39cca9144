"""Hosts judged from a URL's text: every spelling of an address is that address,
and link-local and cloud metadata destinations are never allowed."""

from __future__ import annotations

import pytest

from planner.model.addresses import never_allowed, parse_host, url_refusal


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),  # one decimal number, as inet_aton reads it
        ("0xa9fea9fe", "169.254.169.254"),  # one hex number
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),  # hex parts
        ("0251.0376.0251.0376", "169.254.169.254"),  # octal parts
        ("169.254.43518", "169.254.169.254"),  # the last part fills the remaining bytes
        ("169.16689662", "169.254.169.254"),
        ("169.254.169.254.", "169.254.169.254"),  # a trailing dot is the same host
        ("１６９．２５４．１６９．２５４", "169.254.169.254"),  # fullwidth digits and dots, mapped by IDNA (UTS 46)
        ("[fd00:ec2::254]", "fd00:ec2::254"),
        ("FE80::1%25eth0", "fe80::1"),  # the zone picks an interface, not another address
        ("::ffff:169.254.169.254", "::ffff:a9fe:a9fe"),
        ("GW.Example.COM.", "gw.example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("127.1", "127.0.0.1"),
        ("1.2.3.4.5", "1.2.3.4.5"),  # five parts: a name, not an address
        ("08.1.1.1", "08.1.1.1"),  # 08 is no octal number: a name too (the resolver decides)
    ],
)
def test_a_host_is_read_the_way_a_connection_reads_it(written: str, canonical: str) -> None:
    assert parse_host(written).name == canonical


@pytest.mark.parametrize("written", ["", "a b", "*.example.com", "gw.example.com:8443", "https://gw.example.com", "gw..example.com", "[::1", "x" * 300])
def test_what_is_no_host_is_refused(written: str) -> None:
    with pytest.raises(ValueError):
        parse_host(written)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("169.254.169.254", "link-local"),  # AWS, GCP, Azure, Oracle metadata
        ("169.254.170.2", "link-local"),  # AWS ECS task metadata
        ("2852039166", "link-local"),
        ("0251.0376.0251.0376", "link-local"),
        ("169.254.169.254.", "link-local"),
        ("１６９．２５４．１６９．２５４", "link-local"),
        ("fe80::1", "link-local"),
        ("FEBF::1%eth0", "link-local"),  # the top of fe80::/10
        ("fd00:ec2::254", "metadata"),  # AWS IMDS over IPv6
        ("fd00:ec2::23", "metadata"),
        ("100.100.100.200", "metadata"),  # Alibaba Cloud
        ("::ffff:169.254.169.254", "inside an IPv6 address"),  # IPv4-mapped
        ("::ffff:a9fe:a9fe", "inside an IPv6 address"),
        ("::169.254.169.254", "inside an IPv6 address"),  # IPv4-compatible
        ("64:ff9b::169.254.169.254", "inside an IPv6 address"),  # NAT64
        ("2002:a9fe:a9fe::1", "inside an IPv6 address"),  # 6to4
        ("metadata.google.internal", "metadata"),
        ("METADATA.GOOGLE.INTERNAL.", "metadata"),
        ("metadata.goog", "metadata"),
        ("instance-data.ec2.internal", "metadata"),
    ],
)
def test_link_local_and_metadata_destinations_are_never_allowed(written: str, reason: str) -> None:
    found = never_allowed(parse_host(written))
    assert found is not None and reason in found


@pytest.mark.parametrize("written", ["api.mypurecloud.com", "10.0.0.5", "169.253.255.255", "169.255.0.1", "fec0::1", "fd00:ec3::254", "127.0.0.1", "::1", "0.0.0.0"])
def test_other_addresses_are_for_the_allow_list_to_judge(written: str) -> None:
    assert never_allowed(parse_host(written)) is None


@pytest.mark.parametrize(
    ("written", "loopback"),
    [("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("127.9.9.9", True), ("2130706433", True), ("::1", True),
     ("::ffff:127.0.0.1", True), ("localhost.example.org", False), ("0.0.0.0", False), ("::2", False), ("128.0.0.1", False)],
)
def test_loopback_in_any_spelling(written: str, loopback: bool) -> None:
    assert parse_host(written).is_loopback is loopback


def test_a_url_with_credentials_is_refused_without_repeating_them() -> None:
    reason = url_refusal("https://alice:hunter2@governance.example.com/hook")
    assert reason is not None and "credentials" in reason
    assert "hunter2" not in reason and "alice" not in reason


@pytest.mark.parametrize(
    "url",
    ["https://169.254.169.254/latest", "http://2852039166/", "https://[::ffff:169.254.169.254]/x", "https://[fd00:ec2::254]:443/", "https://metadata.google.internal./computeMetadata"],
)
def test_a_url_to_a_metadata_address_names_the_host_and_why(url: str) -> None:
    reason = url_refusal(url)
    assert reason is not None and "is not allowed" in reason
    assert "link-local" in reason or "metadata" in reason


def test_a_url_shows_how_it_was_written_and_what_it_means() -> None:
    assert "host 2852039166 (169.254.169.254) is not allowed" in (url_refusal("https://2852039166/") or "")


def test_ordinary_urls_pass() -> None:
    assert url_refusal("https://governance.example.com/hooks/llm") is None
    assert url_refusal("http://127.0.0.1:8080/__sandbox/webhook") is None
