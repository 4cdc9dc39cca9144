"""What a change means for a model's safety, and the yes a weakening needs.

Every field change of a plan (and of a drift report) is classified by the
environment's :class:`~planner.model.safety.SafetyRules`. The
classification is computed once, when the plan is built, and travels with
it (plan file, audit trail); renderers show it, apply gates on it, drift
pages on it. Pure functions over plain data; docs/safety.md explains the
rules and their defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from planner.model.errors import Aborted, WeakeningRefused
from planner.model.plan import FieldChange, ResourceChange, weakening_changes
from planner.model.safety import (
    ALLOW,
    BEHAVIOUR,
    FIRST_CONFIGURATION,
    NEUTRAL,
    NOT_SENT,
    REFUSE,
    STRENGTHENS,
    UNCHANGED,
    VIA_FLAG,
    VIA_POLICY,
    VIA_TERMINAL,
    WEAKENS,
    Approval,
    Classification,
    Finding,
    SafetyRules,
    default_rules,
)

_FILTER_PATH = re.compile(r"^safety_filters\[([^\]]+)\](?:\.([a-z_]+))?$")


def classify(changes: Iterable[FieldChange], rules: SafetyRules) -> Classification:
    """The classification of an update from its field changes."""
    return Classification(tuple(_finding(change, rules) for change in changes))


def classify_action(action: str, changes: Sequence[FieldChange], rules: SafetyRules) -> Classification:
    """The classification of a plan's change: a first configuration and a
    forget compare with nothing; only an update is classified field by field."""
    if action == "create":
        return FIRST_CONFIGURATION
    if action == "forget":
        return NOT_SENT
    return classify(changes, rules) if changes else UNCHANGED


def saved_classification(saved: Mapping[str, Any] | None, action: str, changes: Sequence[FieldChange]) -> Classification:
    """A saved change's classification; a plan saved before llmplan
    classified changes is classified now, by the shipped rules."""
    return Classification.from_dict(saved) if saved is not None else classify_action(action, changes, default_rules())


def _finding(change: FieldChange, rules: SafetyRules) -> Finding:
    path, before, after = change.path, change.before, change.after
    found = _FILTER_PATH.match(path)
    if path == "compliance_mode":
        effect, reason = _ranked(before, after, rules.compliance_mode, "compliance mode", "strictest")
    elif found and found.group(2) is None:
        effect, reason = _presence(found.group(1), before, after, rules)
    elif found and found.group(2) == "action":
        effect, reason = _ranked(before, after, rules.filter_action, f"action for the {found.group(1)} filter", "strongest")
    elif found and found.group(2) == "threshold":
        effect, reason = _threshold(found.group(1), before, after, rules.threshold)
    elif path.split(".")[0] in rules.behaviour:
        effect, reason = BEHAVIOUR, _BEHAVIOUR_REASONS.get(path.split(".")[0], "changes how the model answers, not what it may say")
    else:
        effect, reason = NEUTRAL, "no safety rule covers this field"
    return Finding(path, effect, before, after, reason)


_BEHAVIOUR_REASONS = {
    "temperature_matrix": "temperature changes how the model words its answers, not what it may say",
    "max_tokens": "max_tokens changes how long answers may be, not what they may say",
}


def _ranked(before: Any, after: Any, order: Sequence[str], what: str, first: str) -> tuple[str, str]:
    """A move along an ordered scale (compliance modes, filter actions)."""
    scale = f"{first} first: {' > '.join(order)}"
    if before not in order or after not in order:
        return BEHAVIOUR, f"{_text(before)} → {_text(after)}: not both on the scale ({scale})"
    if order.index(after) > order.index(before):
        return WEAKENS, f"{after} is a weaker {what} than {before} ({scale})"
    return STRENGTHENS, f"{after} is a stronger {what} than {before} ({scale})"



def _presence(filter_type: str, before: Any, after: Any, rules: SafetyRules) -> tuple[str, str]:
    if after is None:
        return rules.filter_removed, f"the {filter_type} filter is removed: nothing screens {filter_type} content any more"
    if before is None:
        return rules.filter_added, f"a {filter_type} filter is added: {filter_type} content is screened from now on"
    return NEUTRAL, f"the {filter_type} filter changes shape"



def _threshold(filter_type: str, before: Any, after: Any, stricter: str) -> tuple[str, str]:
    rule = f"safety.threshold: {stricter}" + (" is stricter" if stricter != "unknown" else "")
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (before, after))
    if stricter == "unknown" or not numbers:
        return BEHAVIOUR, f"which way a threshold is stricter is not declared for this environment ({rule})"
    rises = after > before
    if stricter == "lower":
        effect = WEAKENS if rises else STRENGTHENS
        meaning = "acts on less content" if rises else "acts on more content"
    else:
        effect = STRENGTHENS if rises else WEAKENS
        meaning = "is more sensitive" if rises else "is less sensitive"
    return effect, f"with a {'higher' if rises else 'lower'} threshold the {filter_type} filter {meaning} ({rule})"



def old_new(finding: "Finding") -> str:
    """``old → new`` as plans show values; ``(none)`` for an absent one."""
    return f"{_text(finding.before)} → {_text(finding.after)}"



def _text(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)



def describe_weakenings(changes: Iterable["ResourceChange"]) -> list[str]:
    """One line per weakening: model, field, old → new, reason."""
    return [
        f"{change.address}: {finding.path}: {old_new(finding)}; {finding.reason}"
        for change in changes
        for finding in change.classification.weakenings
    ]



@dataclass(frozen=True)
class WeakeningGate:
    """The weakenings of a plan and what they need before apply may make them.

    Made by :func:`weakening_gate`, which refuses at once; :meth:`approve` is
    called after the plan itself was approved.
    """

    changes: tuple["ResourceChange", ...]
    policy: str
    allowed: bool

    def approve(self, ask: Callable[[Sequence["ResourceChange"]], bool], actor: str) -> Approval | None:
        """None when nothing weakens; else who allowed it (``actor``: who is running). Under
        ``confirm`` without --allow-weakening, ``ask`` must say yes to the weakenings."""
        if not self.changes:
            return None
        if self.allowed:
            via = VIA_FLAG
        elif self.policy == ALLOW:
            via = VIA_POLICY
        elif ask(self.changes):
            via = VIA_TERMINAL
        else:
            raise Aborted("apply cancelled: the weakenings were not confirmed; nothing was changed")
        return Approval(actor, via)



def weakening_gate(changes: Iterable["ResourceChange"], policy: str, *, environment: str, allowed: bool) -> WeakeningGate:
    """Refuses a plan that weakens safety under ``apply.weakening: refuse``
    unless ``allowed`` (--allow-weakening), naming each weakening."""
    weakening = weakening_changes(changes)
    if weakening and policy == REFUSE and not allowed:
        listing = "\n".join(f"  {line}" for line in describe_weakenings(weakening))
        raise WeakeningRefused(
            f"this plan weakens safety, and environment {environment} refuses weakenings (apply.weakening: refuse):\n{listing}",
            hint="review each weakening; to apply them anyway, re-run with --allow-weakening (recorded in the audit trail with who allowed it)",
        )
    return WeakeningGate(weakening, policy, allowed)



def audit_fields(classification: Classification, approval: Approval | None) -> dict[str, Any]:
    """The ``safety`` block of an update's audit entries (and so of its
    governance event): the classification, and for a weakening who allowed it."""
    if classification.verdict == NEUTRAL:
        return {}
    block = classification.to_dict()
    if classification.weakens and approval is not None:
        block.update(allowed_by=approval.by, allowed_via=approval.via)
    return {"safety": block}
