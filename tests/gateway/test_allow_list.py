"""Where the credentials may go: the region map, loopback, and the hosts of
LLMPLAN_ALLOWED_GATEWAYS (set outside the repository); never a link-local or
metadata address. The end-to-end proofs (the real CLI, nothing sent) are in
tests/plan/test_gateway_allow_list.py."""

from __future__ import annotations

import pytest

from planner.adapters.gateway.endpoints import REGION_DOMAINS, REGION_HOSTS, Endpoint, allowed_gateways, resolve_endpoint
from planner.model.errors import ConfigurationError, DestinationNotAllowed


def allowed(value: str) -> dict[str, str]:
    return {"LLMPLAN_ALLOWED_GATEWAYS": value}


def test_every_region_names_two_hosts_and_both_are_allowed_unlisted() -> None:
    assert len(REGION_HOSTS) == 2 * len(REGION_DOMAINS)
    for host in sorted(REGION_HOSTS):
        assert resolve_endpoint(base_url=f"https://{host}", login_url=f"https://{host}", environ={}).api_url == f"https://{host}"


@pytest.mark.parametrize(
    ("base_url", "login_url"),
    [
        ("https://api.mypurecloud.de/", None),  # implies login.mypurecloud.de, also on the map
        ("https://API.MYPURECLOUD.IE.", "https://login.mypurecloud.ie"),  # case and a trailing dot change nothing
        ("http://127.0.0.1:8123", None),
        ("http://localhost:8123", "http://[::1]:9000"),
        ("http://2130706433:8123", None),  # 127.0.0.1 spelled as one number is still loopback
    ],
)
def test_the_region_map_and_loopback_need_no_listing(base_url: str, login_url: str | None) -> None:
    endpoint = resolve_endpoint(base_url=base_url, login_url=login_url, environ={})  # not refused
    assert endpoint.api_url.rstrip(".").lower() == base_url.rstrip("/.").lower()
    assert endpoint.login_url.startswith(("https://login.", "http://"))


@pytest.mark.parametrize(
    ("base_url", "login_url", "refused"),
    [
        ("https://collector.example.net", None, "collector.example.net"),
        ("https://apps.mypurecloud.com", None, "apps.mypurecloud.com"),  # on a region's domain, but not its API or login
        ("https://api.mypurecloud.com.evil.example", None, "api.mypurecloud.com.evil.example"),
        ("https://api.mypurecloud.com", "https://collector.example.net", "collector.example.net"),  # login is where the secret goes
        ("https://10.0.0.5", None, "10.0.0.5"),
        ("https://0.0.0.0:8443", None, "0.0.0.0"),
    ],
)
def test_any_other_host_is_refused_naming_it_and_the_variable(base_url: str, login_url: str | None, refused: str) -> None:
    with pytest.raises(DestinationNotAllowed) as caught:
        resolve_endpoint(base_url=base_url, login_url=login_url, environ={})
    message = caught.value.message
    assert f"host {refused} is not allowed" in message
    assert "LLMPLAN_ALLOWED_GATEWAYS (which is not set)" in message
    assert "LLMPLAN_ALLOWED_GATEWAYS" in (caught.value.hint or "")


def test_a_listed_host_is_allowed_in_any_spelling() -> None:
    environ = allowed(" GW.Example.com. , xn--bcher-kva.example,10.0.0.5,[fd12::1]")
    assert resolve_endpoint(base_url="https://gw.example.com:8443/v2", environ=environ) == Endpoint("https://gw.example.com:8443/v2", "https://gw.example.com:8443/v2")
    assert resolve_endpoint(base_url="https://bücher.example", environ=environ).api_url == "https://bücher.example"
    assert resolve_endpoint(base_url="https://0xa.0.0.5", environ=environ).api_url == "https://0xa.0.0.5"
    assert resolve_endpoint(base_url="https://[FD12:0::1]", environ=environ).api_url == "https://[fd12:0::1]"


def test_the_login_host_implied_by_an_api_host_must_be_listed_too() -> None:
    with pytest.raises(DestinationNotAllowed, match="login host implied by gateway base_url host login.gw.example.com") as caught:
        resolve_endpoint(base_url="https://api.gw.example.com", environ=allowed("api.gw.example.com"))
    assert "which lists api.gw.example.com" in caught.value.message
    assert caught.value.setting == "gateway.base_url"
    endpoint = resolve_endpoint(base_url="https://api.gw.example.com", environ=allowed("api.gw.example.com,login.gw.example.com"))
    assert endpoint == Endpoint("https://api.gw.example.com", "https://login.gw.example.com")


def test_a_refused_login_url_names_its_setting() -> None:
    with pytest.raises(DestinationNotAllowed) as caught:
        resolve_endpoint(base_url="https://gw.example.com", login_url="https://sso.example.com", environ=allowed("gw.example.com"))
    assert caught.value.setting == "gateway.login_url"
    assert "gateway login_url host sso.example.com" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254",
        "https://2852039166/",
        "https://0xa9.0xfe.0xa9.0xfe",
        "https://169.254.169.254./",
        "https://[::ffff:169.254.169.254]",
        "https://[fd00:ec2::254]",
        "https://[fe80::1%25eth0]:8443",
        "https://metadata.google.internal",
        "http://169.254.169.254",  # refused as not allowed, before the plain-HTTP rule
    ],
)
def test_link_local_and_metadata_addresses_are_refused_even_when_listed(url: str) -> None:
    environ = allowed("169.254.169.254,2852039166,fd00:ec2::254,::ffff:169.254.169.254,fe80::1,metadata.google.internal,0xa9.0xfe.0xa9.0xfe")
    for settings in ({"base_url": url}, {"base_url": "https://api.mypurecloud.com", "login_url": url}):
        with pytest.raises(DestinationNotAllowed, match="is not allowed: it is .*(link-local|metadata).*whatever \\$LLMPLAN_ALLOWED_GATEWAYS lists"):
            resolve_endpoint(environ=environ, **settings)


def test_llmplan_gateway_url_is_trusted_without_listing_but_never_with_a_metadata_address() -> None:
    environ = {"LLMPLAN_GATEWAY_URL": "https://rehearsal.example.net"}
    assert resolve_endpoint(base_url="https://collector.example.net", environ=environ) == Endpoint("https://rehearsal.example.net", "https://rehearsal.example.net")
    with pytest.raises(DestinationNotAllowed, match=r"\$LLMPLAN_GATEWAY_URL host 169.254.169.254 is not allowed"):
        resolve_endpoint(region="us-east-1", environ={"LLMPLAN_GATEWAY_URL": "https://169.254.169.254"})


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ("", frozenset()),
        (" , ,", frozenset()),  # empty entries (a trailing comma) are nothing
        ("a.example,B.EXAMPLE.", frozenset({"a.example", "b.example"})),
        ("[::1], 127.1", frozenset({"::1", "127.0.0.1"})),
    ],
)
def test_the_variable_is_a_comma_separated_list_of_hosts(value: str, hosts: frozenset[str]) -> None:
    assert allowed_gateways(allowed(value)) == hosts


@pytest.mark.parametrize("value", ["https://gw.example.com", "gw.example.com:8443", "*.example.com", "gw.example.com/api", "gw example"])
def test_an_entry_that_is_no_host_is_an_error_never_ignored(value: str) -> None:
    with pytest.raises(ConfigurationError, match="LLMPLAN_ALLOWED_GATEWAYS holds .* which is not a host name") as caught:
        resolve_endpoint(base_url="https://gw.example.com", environ=allowed(f"ok.example.com,{value}"))
    assert "without scheme, port, path or wildcard" in (caught.value.hint or "")
