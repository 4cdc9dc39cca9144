"""Where the gateway is and who we are to it: region map, overrides, HTTPS rule, credentials."""

from __future__ import annotations

import pytest

from planner.adapters.gateway.endpoints import (
    REGION_DOMAINS,
    Credentials,
    Endpoint,
    credentials_from_env,
    is_loopback_url,
    resolve_endpoint,
)
from planner.model.errors import ConfigurationError, CredentialsMissing, InsecureGatewayURL


@pytest.mark.parametrize(
    ("region", "api", "login"),
    [
        ("us-east-1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"),
        ("eu-west-1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("ap-southeast-2", "https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au"),
        ("us-east-2", "https://api.use2.us-gov-pure.cloud", "https://login.use2.us-gov-pure.cloud"),
        ("me-central-1", "https://api.mec1.pure.cloud", "https://login.mec1.pure.cloud"),
    ],
)
def test_a_region_names_the_api_and_login_hosts(region: str, api: str, login: str) -> None:
    assert resolve_endpoint(region=region, environ={}) == Endpoint(api, login)


def test_the_region_map_has_every_region_of_the_contract() -> None:
    assert len(REGION_DOMAINS) == 15
    assert REGION_DOMAINS["eu-central-1"] == "mypurecloud.de"
    assert REGION_DOMAINS["ap-northeast-1"] == "mypurecloud.jp"


def test_the_region_comes_from_the_environment_variable_when_not_given() -> None:
    assert resolve_endpoint(environ={"GENESYSCLOUD_REGION": "eu-central-1"}).api_url == "https://api.mypurecloud.de"


def test_an_explicit_region_wins_over_the_environment_variable() -> None:
    endpoint = resolve_endpoint(region="ca-central-1", environ={"GENESYSCLOUD_REGION": "eu-central-1"})
    assert endpoint.api_url == "https://api.cac1.pure.cloud"


# the hosts of the examples below, listed as CI would list them (outside the repository)
LISTED = {"LLMPLAN_ALLOWED_GATEWAYS": "api.example.org, login.example.org,gw.example.org,sso.example.org"}


def test_a_base_url_wins_over_the_region_and_api_host_implies_the_login_host() -> None:
    endpoint = resolve_endpoint(region="us-east-1", base_url="https://api.example.org/", environ={"GENESYSCLOUD_REGION": "eu-west-1", **LISTED})
    assert endpoint == Endpoint("https://api.example.org", "https://login.example.org")


def test_a_base_url_without_api_prefix_serves_login_itself_unless_login_url_is_given() -> None:
    assert resolve_endpoint(base_url="https://gw.example.org:8443", environ=LISTED) == Endpoint("https://gw.example.org:8443", "https://gw.example.org:8443")
    assert resolve_endpoint(base_url="https://gw.example.org", login_url="https://sso.example.org", environ=LISTED).login_url == "https://sso.example.org"


def test_llmplan_gateway_url_overrides_everything_for_api_and_login() -> None:
    environ = {"LLMPLAN_GATEWAY_URL": "http://127.0.0.1:8123/", "GENESYSCLOUD_REGION": "eu-west-1"}
    endpoint = resolve_endpoint(region="us-east-1", base_url="https://api.example.org", login_url="https://login.example.org", environ=environ)
    assert endpoint == Endpoint("http://127.0.0.1:8123", "http://127.0.0.1:8123")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",  # all of 127.0.0.0/8 is loopback
        "http://localhost:9000",
        "http://LOCALHOST",
        "http://[::1]:8080",
    ],
)
def test_plain_http_is_accepted_on_loopback(url: str) -> None:
    assert is_loopback_url(url)
    assert resolve_endpoint(base_url=url, environ={}).api_url.startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.org",
        "http://10.0.0.5:8080",
        "http://128.0.0.1",
        "http://localhost.example.org",  # a name that merely starts like localhost
        "http://[::2]",
    ],
)
def test_plain_http_to_anything_else_is_refused(url: str) -> None:
    assert not is_loopback_url(url)
    with pytest.raises(InsecureGatewayURL, match="plain HTTP"):
        resolve_endpoint(base_url=url, environ={})
    with pytest.raises(InsecureGatewayURL):
        resolve_endpoint(environ={"LLMPLAN_GATEWAY_URL": url})


def test_a_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_endpoint(base_url="https://me:hunter2@api.example.org", environ={})
    assert "hunter2" not in str(caught.value)
    assert "must not contain credentials" in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"region": "mars-north-1"}, "unknown gateway region 'mars-north-1'"),
        ({}, "no gateway address"),
        ({"base_url": "ftp://api.example.org"}, "must be an http(s) URL"),
        ({"base_url": "https://api.example.org?x=1"}, "must not have a query"),
        ({"base_url": "https://api.example.org:99999"}, "not a valid URL"),
        ({"login_url": "https://login.example.org"}, "login_url is set without base_url"),
    ],
)
def test_unusable_settings_get_a_clear_error(settings: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        resolve_endpoint(environ={}, **settings)


def test_credentials_come_from_the_two_variables() -> None:
    credentials = credentials_from_env({"GENESYSCLOUD_OAUTHCLIENT_ID": "abc", "GENESYSCLOUD_OAUTHCLIENT_SECRET": "s3cr3t"})
    assert credentials == Credentials("abc", "s3cr3t")


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "GENESYSCLOUD_OAUTHCLIENT_ID"),
        ({"GENESYSCLOUD_OAUTHCLIENT_SECRET": "s"}, "GENESYSCLOUD_OAUTHCLIENT_ID"),
        ({"GENESYSCLOUD_OAUTHCLIENT_ID": "abc"}, "GENESYSCLOUD_OAUTHCLIENT_SECRET"),
        ({"GENESYSCLOUD_OAUTHCLIENT_ID": "abc", "GENESYSCLOUD_OAUTHCLIENT_SECRET": ""}, "GENESYSCLOUD_OAUTHCLIENT_SECRET"),
    ],
)
def test_a_missing_variable_is_named(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(CredentialsMissing) as caught:
        credentials_from_env(environ)
    assert caught.value.variable == missing
    assert missing in str(caught.value)


def test_the_fallback_applies_only_when_both_variables_are_unset() -> None:
    sandbox = Credentials("sandbox", "sandbox-secret")
    assert credentials_from_env({}, fallback=sandbox) is sandbox
    with pytest.raises(CredentialsMissing, match="GENESYSCLOUD_OAUTHCLIENT_SECRET"):
        credentials_from_env({"GENESYSCLOUD_OAUTHCLIENT_ID": "mine"}, fallback=sandbox)


def test_the_secret_never_shows_in_repr_or_str() -> None:
    credentials = Credentials("abc", "canary-9f8e7d")
    assert "canary-9f8e7d" not in repr(credentials)
    assert "canary-9f8e7d" not in str(credentials)
    assert "abc" in repr(credentials)
