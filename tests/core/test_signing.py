"""Standard Webhooks signing (planner.adapters.signing), checked against the specification's
reference library ``standardwebhooks`` as the oracle: what llmplan signs, it
verifies; what llmplan's receiver refuses, it refuses."""

from __future__ import annotations

import base64
import time
from typing import Callable

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from planner.adapters.signing import SigningKeys, parse_secrets, sign, verify, webhook_headers
from planner.model.errors import ConfigurationError

BODY = b'{"event_id":"0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e","event_type":"llm_config_change","note":"caf\xc3\xa9"}'
MSG_ID = "0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e"
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
WHSEC_A = "whsec_" + base64.b64encode(KEY_A).decode()
WHSEC_B = "whsec_" + base64.b64encode(KEY_B).decode()


def library_accepts(secret: str | bytes, headers: dict[str, str], body: bytes = BODY) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def test_the_specifications_published_example_is_reproduced() -> None:
    # the example of the specification's libraries: this secret, id, timestamp and payload give this signature
    keys = parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert sign(keys, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("written", "library_key"),
    [
        (WHSEC_A, WHSEC_A),  # the specification's form: the library reads it as written
        (WHSEC_A.rstrip("="), WHSEC_A),  # unpadded base64, as some generators write it
        ("a-plain-passphrase-of-32-chars!!", b"a-plain-passphrase-of-32-chars!!"),  # plain: its bytes are the key
        ("pässwörd-with-non-ascii", "pässwörd-with-non-ascii".encode()),  # UTF-8 bytes
        (f"  {WHSEC_A}\n", WHSEC_A),  # surrounding whitespace (a file read with a newline) is not part of it
    ],
)
def test_headers_verify_with_the_reference_library(written: str, library_key: str | bytes) -> None:
    headers = webhook_headers(MSG_ID, time.time(), BODY, parse_secrets(written))
    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"].isdigit()
    assert library_accepts(library_key, headers)
    assert not library_accepts(KEY_B, headers)  # and not with another key


def test_two_secrets_send_two_signatures_each_verifies_alone() -> None:
    headers = webhook_headers(MSG_ID, time.time(), BODY, parse_secrets(f"{WHSEC_A} {WHSEC_B}"))
    assert [part.split(",")[0] for part in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    assert library_accepts(WHSEC_A, headers)  # a receiver still on the old key
    assert library_accepts(WHSEC_B, headers)  # a receiver already on the new one
    assert not library_accepts(b"a third key nobody configured", headers)


def test_without_keys_the_headers_carry_id_and_time_but_no_signature() -> None:
    headers = webhook_headers(MSG_ID, 1_764_000_000.9, BODY, None)
    assert headers == {"webhook-id": MSG_ID, "webhook-timestamp": "1764000000"}


def test_the_timestamp_is_the_send_time_in_whole_seconds() -> None:
    keys = parse_secrets(WHSEC_A)
    early, late = webhook_headers(MSG_ID, 1_764_000_000.2, BODY, keys), webhook_headers(MSG_ID, 1_764_003_600.7, BODY, keys)
    assert (early["webhook-timestamp"], late["webhook-timestamp"]) == ("1764000000", "1764003600")
    assert early["webhook-signature"] != late["webhook-signature"]  # the time is signed


def flip_one_byte(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body.replace(b"llm_config_change", b"llm_config_chango")


def stale(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**webhook_headers(MSG_ID, time.time() - 600, body, parse_secrets(WHSEC_A))}, body


def future(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**webhook_headers(MSG_ID, time.time() + 600, body, parse_secrets(WHSEC_A))}, body


def other_id(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "webhook-id": "another-event"}, body


def shifted_time(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}, body


def no_signature(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {name: value for name, value in headers.items() if name != "webhook-signature"}, body


def wrong_key(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return webhook_headers(MSG_ID, time.time(), body, parse_secrets(WHSEC_B)), body


def v2_only(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,")}, body


def upper_case_names(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {name.title(): value for name, value in headers.items()}, body


def plus_a_bogus_signature(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}, body


Tamper = Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]


@pytest.mark.parametrize(
    ("tamper", "verified", "reason"),
    [
        (lambda headers, body: (headers, body), True, ""),  # as sent
        (upper_case_names, True, ""),  # header names are case-insensitive
        (plus_a_bogus_signature, True, ""),  # one matching signature among several is enough
        (flip_one_byte, False, "none of the 1 v1 signature(s) matches"),  # the body changed by one byte
        (stale, False, "s old, more than the 300 s tolerance"),  # a replay ten minutes later
        (future, False, "in the future"),
        (other_id, False, "matches"),  # the id is signed
        (shifted_time, False, "matches"),  # so is the timestamp
        (no_signature, False, "missing header webhook-signature"),
        (wrong_key, False, "matches"),
        (v2_only, False, "has no v1 signature"),  # only v1 is defined
    ],
)
def test_verify_agrees_with_the_reference_library(tamper: Tamper, verified: bool, reason: str) -> None:
    headers, body = tamper(webhook_headers(MSG_ID, time.time(), BODY, parse_secrets(WHSEC_A)), BODY)
    verdict = verify(parse_secrets(WHSEC_A), headers, body, now=time.time())
    assert verdict.verified is verified
    assert reason in verdict.reason
    assert library_accepts(WHSEC_A, headers, body) is verified


def test_verify_accepts_either_key_of_a_receiver_mid_rotation() -> None:
    headers = webhook_headers(MSG_ID, time.time(), BODY, parse_secrets(WHSEC_B))
    assert verify(parse_secrets(f"{WHSEC_A} {WHSEC_B}"), headers, BODY, now=time.time()).verified


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("whsec_not*base64!", "starts with whsec_ but what follows is not base64"),
        ("whsec_", "is whsec_ with no key after it"),
        (f"{WHSEC_A} whsec_%%%", "the second secret of the setting starts with whsec_"),  # says which, not what
        ("correct horse battery staple", "holds 4 space-separated values"),  # a passphrase with spaces
    ],
)
def test_an_unusable_secret_is_refused_without_quoting_it(written: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_secrets(written, source="the setting")
    shown = f"{refused.value} {refused.value.hint or ''}"
    assert message in shown
    assert not [part for part in written.split() if part != "whsec_" and part in shown]


def test_keys_never_show_in_a_repr() -> None:
    keys = parse_secrets(f"plain-secret-value {WHSEC_A}")
    assert repr(keys) == "SigningKeys(2 keys)"
    assert "plain-secret-value" not in repr(keys) and str(keys) == repr(keys)
    assert isinstance(keys, SigningKeys) and keys.keys == (b"plain-secret-value", KEY_A)
