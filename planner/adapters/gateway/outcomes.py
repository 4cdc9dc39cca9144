"""Three outcomes, not two: a PUT lands, is refused, or its answer is lost.

A lost answer (the connection closed or reset after the request was sent, a
read timeout, a proxy's 502 or 504) leaves the outcome *unknown*: the
gateway may have applied the change.  It is resolved by reading the
configuration back, never by guessing or resending blindly.  What was sent
and the version guard it carried decide, by :func:`judge`:

- live equals what was sent and its version moved past the guard → the PUT
  **landed**: a success, with the live version;
- live is still what the guard expected (that version; no configuration at
  all for a first configuration, guard ``0``) → it did **not land**: resend
  it with the same guard, which can never apply twice;
- anything else → someone else changed the model meanwhile: a **conflict**,
  reported and not overwritten.

A 409 answering a guarded PUT is judged the same way: after a lost answer it
is usually our own first attempt that landed.  :func:`judge` is pure;
:func:`put_until_known` runs the loop around it on the two calls it is
given (the PUT and the read-back), so it knows no HTTP.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from planner.adapters.gateway.wire import Applied
from planner.core.diff import configuration_hash
from planner.model.errors import GatewayError, OutcomeUnknown, VersionConflict

MAX_RESENDS = 5  # a guarded PUT resent after its read-back showed it did not land


class Verdict(enum.Enum):
    LANDED = "landed"
    NOT_LANDED = "not landed"  # live is what the guard expected: resend with the same guard
    CONFLICT = "conflict"  # another change: never overwritten
    UNDECIDABLE = "undecidable"  # no guard was sent, and live is not what was sent


def judge(sent: Mapping[str, Any], guard: int | None, live: Mapping[str, Any] | None) -> Verdict:
    """What became of a PUT of ``sent`` guarded by ``guard``, judged from the configuration read back.

    ``guard`` is the ``version`` the PUT carried (0: "only if never
    configured"), or None for an unguarded PUT, which can only be found to
    have landed.
    """
    version = _version(live)
    if live is not None and configuration_hash(live) == configuration_hash(sent) and (guard is None or (version is not None and version > guard)):
        return Verdict.LANDED
    if guard is None:
        return Verdict.UNDECIDABLE
    if (guard == 0 and live is None) or (live is not None and version == guard):
        return Verdict.NOT_LANDED
    return Verdict.CONFLICT


def _version(live: Mapping[str, Any] | None) -> int | None:
    version = live.get("version") if live is not None else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def put_until_known(
    put: Callable[[], dict[str, Any]],
    read_back: Callable[[], dict[str, Any] | None],
    *,
    sent: Mapping[str, Any],
    guard: int | None,
    url: str,
    log: logging.Logger,
) -> Applied:
    """``put()`` until its outcome is known: what landed, or an error saying why nothing did.

    ``put`` raises :class:`~planner.model.errors.OutcomeUnknown` when the answer
    was lost and :class:`~planner.model.errors.VersionConflict` on a 409; either
    way ``read_back()`` (the live configuration, None if never configured)
    is judged.  Landed → :class:`Applied` with ``read_back``; not landed →
    ``put()`` again with the same guard (at most ``MAX_RESENDS`` times);
    a conflict → VersionConflict; the read-back failing after a lost answer
    → OutcomeUnknown.  A 409 when no earlier attempt lost its answer stands
    unless the read-back shows our change landed (someone made exactly this
    change): nothing of ours can have landed unseen.
    """
    path = urlsplit(url).path
    lost_before = False  # an earlier attempt of this change may have landed
    for resends in range(MAX_RESENDS + 1):
        doubt: GatewayError
        try:
            return Applied(put(), read_back=resends > 0, resends=resends)
        except OutcomeUnknown as lost:
            lost_before, doubt = True, lost
        except VersionConflict as conflict:
            doubt = conflict
        try:
            live = read_back()
        except GatewayError as failure:
            if not lost_before:
                raise doubt from failure
            raise OutcomeUnknown(
                f"PUT {path}: {doubt.message}; reading the configuration back failed too ({failure.message}), so whether it landed is unknown",
                method="PUT", url=url,
            ) from failure
        verdict = judge(sent, guard, live)
        log.info("PUT %s: read back after %s: %s (live version %s)", path, "a lost answer" if isinstance(doubt, OutcomeUnknown) else "a 409", verdict.value, (live or {}).get("version"))
        if verdict is Verdict.LANDED:
            assert live is not None
            return Applied(live, read_back=True, resends=resends)
        if isinstance(doubt, VersionConflict) and (verdict is Verdict.CONFLICT or not lost_before):
            raise doubt  # the gateway's own 409, with its contextId: no attempt of ours can have landed unseen
        if verdict is Verdict.CONFLICT:
            shown = "no configuration" if live is None else f"version {live.get('version')} with other content"
            raise VersionConflict(
                f"PUT {path} was not applied: the configuration changed on the gateway since it was read (sent with version {guard}; read back: {shown})",
                status=409, code="conflict", method="PUT", url=url,
            )
        if verdict is Verdict.UNDECIDABLE:
            raise OutcomeUnknown(f"PUT {path}: {doubt.message}; it was sent without a version guard and the configuration read back is not what was sent", method="PUT", url=url)
        # NOT_LANDED: live is what the guard expects, so the guarded resend cannot apply twice
    raise OutcomeUnknown(f"PUT {path}: resent {MAX_RESENDS} times after answers were lost, and still not landed", method="PUT", url=url)
