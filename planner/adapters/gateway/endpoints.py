"""Where the gateway is, and who we are to it.

An address comes from, in order: ``LLMPLAN_GATEWAY_URL`` (API and login on
one base URL, as the sandbox serves them), an explicit ``base_url`` (and
optional ``login_url``), a region (argument, else ``GENESYSCLOUD_REGION``)
looked up in the region map of the Genesys Cloud SDKs.  Plain HTTP is
refused except on loopback, where the sandbox runs: a bearer token or a
client secret must never cross a network in clear text.

``environment.yaml`` is part of every pull request, so the address it names
is not trusted with the credentials: a ``base_url`` or ``login_url`` must be
a host of the region map, loopback, or a host listed in
``LLMPLAN_ALLOWED_GATEWAYS``, which is set outside the repository (the
shell, a CI variable). ``LLMPLAN_GATEWAY_URL`` is set outside the repository
too and needs no listing. Link-local and cloud metadata addresses
(:mod:`planner.model.addresses`) are refused everywhere, listed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from planner.model.addresses import Host, parse_host, shown_host, url_refusal
from planner.model.errors import ConfigurationError, CredentialsMissing, DestinationNotAllowed, InsecureGatewayURL
from planner.model.printable import printable

GATEWAY_URL_VARIABLE = "LLMPLAN_GATEWAY_URL"
REGION_VARIABLE = "GENESYSCLOUD_REGION"
CLIENT_ID_VARIABLE = "GENESYSCLOUD_OAUTHCLIENT_ID"
CLIENT_SECRET_VARIABLE = "GENESYSCLOUD_OAUTHCLIENT_SECRET"
ALLOWED_GATEWAYS_VARIABLE = "LLMPLAN_ALLOWED_GATEWAYS"

REGION_DOMAINS: Mapping[str, str] = MappingProxyType(
    {
        "us-east-1": "mypurecloud.com",
        "us-east-2": "use2.us-gov-pure.cloud",
        "us-west-2": "usw2.pure.cloud",
        "ca-central-1": "cac1.pure.cloud",
        "eu-west-1": "mypurecloud.ie",
        "eu-west-2": "euw2.pure.cloud",
        "eu-central-1": "mypurecloud.de",
        "ap-southeast-2": "mypurecloud.com.au",
        "eu-central-2": "euc2.pure.cloud",
        "ap-northeast-1": "mypurecloud.jp",
        "ap-northeast-2": "apne2.pure.cloud",
        "ap-northeast-3": "apne3.pure.cloud",
        "ap-south-1": "aps1.pure.cloud",
        "sa-east-1": "sae1.pure.cloud",
        "me-central-1": "mec1.pure.cloud",
    }
)
# Where a region's API and login live; no other host of those domains gets credentials unlisted.
REGION_HOSTS = frozenset(f"{service}.{domain}" for domain in REGION_DOMAINS.values() for service in ("api", "login"))


@dataclass(frozen=True)
class Endpoint:
    """Base URLs (scheme, host, optional port; no trailing slash) of the API and of login."""

    api_url: str
    login_url: str


@dataclass(frozen=True)
class Credentials:
    """An OAuth client; the secret is left out of ``repr`` (and so of logs and tracebacks)."""

    client_id: str
    client_secret: str = field(repr=False)


def resolve_endpoint(
    *,
    region: str | None = None,
    base_url: str | None = None,
    login_url: str | None = None,
    environ: Mapping[str, str],
) -> Endpoint:
    """The gateway address for an environment's settings and the process environment.

    Without ``login_url`` an explicit ``base_url`` of the form
    ``https://api.<domain>`` logs in at ``https://login.<domain>`` (the Genesys
    layout); any other base URL serves login itself (the sandbox layout).
    """
    override = (environ.get(GATEWAY_URL_VARIABLE) or "").strip()
    if override:
        url = _checked_base_url(override, f"${GATEWAY_URL_VARIABLE}")
        return Endpoint(api_url=url, login_url=url)
    if base_url:
        api = _checked_base_url(base_url, "gateway base_url")
        login = _checked_base_url(login_url, "gateway login_url") if login_url else _login_for(api)
        allowed = allowed_gateways(environ)
        check_allowed(api, "gateway base_url", allowed, setting="gateway.base_url")
        if login_url:
            check_allowed(login, "gateway login_url", allowed, setting="gateway.login_url")
        else:
            check_allowed(login, "the login host implied by gateway base_url", allowed, setting="gateway.base_url")
        return Endpoint(api_url=api, login_url=login)
    if login_url:
        raise ConfigurationError("gateway login_url is set without base_url", hint="set gateway.base_url as well, or use gateway.region")
    chosen = region or (environ.get(REGION_VARIABLE) or "").strip()
    if not chosen:
        raise ConfigurationError(
            "no gateway address: the environment sets neither gateway.region nor gateway.base_url, "
            f"and ${REGION_VARIABLE} is not set",
            hint=f"set gateway.region (e.g. us-east-1) in environment.yaml, or export {REGION_VARIABLE} or {GATEWAY_URL_VARIABLE}",
        )
    domain = REGION_DOMAINS.get(chosen)
    if domain is None:
        raise ConfigurationError(
            f"unknown gateway region {chosen!r}",
            hint="use one of: " + ", ".join(REGION_DOMAINS),
        )
    return Endpoint(api_url=f"https://api.{domain}", login_url=f"https://login.{domain}")


def credentials_from_env(environ: Mapping[str, str], *, fallback: Credentials | None = None) -> Credentials:
    """The OAuth client from ``GENESYSCLOUD_OAUTHCLIENT_ID`` / ``_SECRET``.

    ``fallback`` (the sandbox's built-in client) is used only when *both* are
    unset; setting one without the other is a mistake worth reporting.
    """
    client_id = environ.get(CLIENT_ID_VARIABLE) or ""
    client_secret = environ.get(CLIENT_SECRET_VARIABLE) or ""
    if not client_id and not client_secret and fallback is not None:
        return fallback
    if not client_id:
        raise CredentialsMissing(CLIENT_ID_VARIABLE)
    if not client_secret:
        raise CredentialsMissing(CLIENT_SECRET_VARIABLE)
    return Credentials(client_id=client_id, client_secret=client_secret)


def allowed_gateways(environ: Mapping[str, str]) -> frozenset[str]:
    """The hosts of ``LLMPLAN_ALLOWED_GATEWAYS`` in canonical form; a bad entry is an error, never ignored."""
    names: set[str] = set()
    bad: list[str] = []
    for entry in (environ.get(ALLOWED_GATEWAYS_VARIABLE) or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            names.add(parse_host(entry).name)
        except ValueError:
            bad.append(repr(printable(entry)))
    if bad:
        raise ConfigurationError(
            f"${ALLOWED_GATEWAYS_VARIABLE} holds {', '.join(bad)}, which {'is not a host name' if len(bad) == 1 else 'are not host names'}",
            hint="list host names separated by commas, without scheme, port, path or wildcard: llm-gw.example.com,llm-gw-eu.example.com",
        )
    return frozenset(names)


def check_allowed(url: str, what: str, allowed: frozenset[str], *, setting: str | None = None) -> None:
    """Refuse ``url`` (already checked by :func:`_checked_base_url`) unless its host may receive credentials."""
    hostname = urlsplit(url).hostname or ""
    host = parse_host(hostname)
    if host.is_loopback or host.name in REGION_HOSTS or host.name in allowed:
        return
    listing = f"which lists {', '.join(sorted(allowed))}" if allowed else "which is not set"
    shown = shown_host(hostname, host)
    raise DestinationNotAllowed(
        f"{what} host {shown} is not allowed: llmplan sends the gateway credentials only to the hosts of the "
        f"Genesys Cloud region map, to loopback, and to the hosts listed in ${ALLOWED_GATEWAYS_VARIABLE} ({listing})",
        hint=f"if {host.name} is your gateway, add it to {ALLOWED_GATEWAYS_VARIABLE} where llmplan runs (the shell, or a CI "
        "variable; never in the repository, which a pull request can change); otherwise set gateway.region",
        setting=setting,
    )


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is ``localhost``, in 127.0.0.0/8, or ``::1``, however spelled."""
    try:
        host = urlsplit(url).hostname
        return host is not None and bool(host) and parse_host(host).is_loopback
    except ValueError:
        return False


def _checked_base_url(url: str, what: str) -> str:
    """``url`` reduced to scheme://host[:port][/path] without trailing slash, or a clear error.

    The message never repeats a ``user:password@`` part, which may hold a secret.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError on a bad port
    except ValueError as error:
        raise ConfigurationError(f"{what} is not a valid URL ({error})") from None
    shown = urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", "")) if parts.hostname else "(no host)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http(s) URL with a host, got {shown}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{what} must not contain credentials (user:password@host)",
            hint=f"pass credentials in {CLIENT_ID_VARIABLE} / {CLIENT_SECRET_VARIABLE}",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{what} must not have a query or fragment: {shown}")
    try:
        host: Host = parse_host(parts.hostname)
    except ValueError as error:
        raise ConfigurationError(f"{what} has the host '{printable(parts.hostname)}', which is {error}") from None
    refusal = url_refusal(url)
    if refusal is not None:
        raise DestinationNotAllowed(
            f"{what} {refusal}, whatever ${ALLOWED_GATEWAYS_VARIABLE} lists",
            hint="name the gateway by gateway.region, or by the https:// address of the gateway itself",
        )
    if parts.scheme == "http" and not host.is_loopback:
        raise InsecureGatewayURL(
            f"{what} {shown} uses plain HTTP; tokens and secrets would cross the network unencrypted",
            hint="use https://, or a loopback address (127.0.0.1, ::1, localhost) for a local sandbox",
        )
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _login_for(api_url: str) -> str:
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if not host.startswith("api."):
        return api_url
    netloc = "login." + host[len("api.") :] + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, "", "", ""))
