"""What a change means for a model's safety, and the yes a weakening needs.

Every field change of a plan (and of a drift report) is classified by rules
that are data: ``schemas/safety-rules.json``, overridden key by key by the
``safety:`` block of an environment.yaml.  A change *weakens*, *strengthens*,
changes *behaviour* (neither: temperature, token limit) or is *neutral*,
and each verdict carries a reason in words.  The classification is computed
once, when the plan is built, and travels with it (plan file, audit trail);
renderers show it, apply gates on it, drift pages on it.

Pure functions over plain data, except :func:`actor` (reads who is running).
docs/safety.md explains the rules and their defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from planner.diff import FieldChange
from planner.errors import Aborted, WeakeningRefused

if TYPE_CHECKING:
    from planner.plan import ResourceChange

RULES_FILE = "safety-rules.json"

WEAKENS, STRENGTHENS, BEHAVIOUR, NEUTRAL = "weakens", "strengthens", "behaviour", "neutral"
EFFECTS = (WEAKENS, STRENGTHENS, BEHAVIOUR, NEUTRAL)  # a change is its first effect in this order

# apply.weakening: what apply does with a plan that weakens safety
REFUSE, CONFIRM, ALLOW = "refuse", "confirm", "allow"
WEAKENING_POLICIES = (REFUSE, CONFIRM, ALLOW)
DEFAULT_WEAKENING_POLICY = CONFIRM

# how a weakening was allowed, as the audit trail records it
VIA_FLAG = "--allow-weakening"
VIA_TERMINAL = "confirmed at the terminal"
VIA_POLICY = "apply.weakening: allow"

# CI systems' variables naming the person who started the run, most common first
CI_ACTORS = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR", "BUILDKITE_BUILD_CREATOR", "CIRCLE_USERNAME", "BUILD_USER_ID")

_FILTER_PATH = re.compile(r"^safety_filters\[([^\]]+)\](?:\.([a-z_]+))?$")


# --- the rules ---------------------------------------------------------------


@dataclass(frozen=True)
class SafetyRules:
    """The classification rules of one environment (see schemas/safety-rules.schema.json)."""

    compliance_mode: tuple[str, ...]  # strictest first
    filter_action: tuple[str, ...]  # strongest first
    filter_removed: str
    filter_added: str
    threshold: str  # lower | higher | unknown: which way is stricter
    behaviour: tuple[str, ...]  # fields whose changes are behaviour

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SafetyRules":
        return cls(
            compliance_mode=tuple(data["compliance_mode"]),
            filter_action=tuple(data["filter_action"]),
            filter_removed=str(data["filter_removed"]),
            filter_added=str(data["filter_added"]),
            threshold=str(data["threshold"]),
            behaviour=tuple(data["behaviour"]),
        )


@lru_cache(maxsize=None)
def _default_rules_data() -> dict[str, Any]:
    from planner.schemas import schemas_dir

    with open(schemas_dir() / RULES_FILE, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def default_rules() -> SafetyRules:
    """The shipped rules, ``schemas/safety-rules.json``."""
    return rules_for(None)


def rules_for(overrides: Mapping[str, Any] | None) -> SafetyRules:
    """The shipped rules with an environment's ``safety:`` keys laid over them,
    each key replacing the default whole (the environment schema checked them)."""
    return SafetyRules.from_dict({**_default_rules_data(), **(overrides or {})})


# --- the classification ------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What one field change means for safety, and why."""

    path: str
    effect: str
    before: Any
    after: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "effect": self.effect, "before": self.before, "after": self.after, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Finding":
        return cls(data["path"], data["effect"], data.get("before"), data.get("after"), data["reason"])


@dataclass(frozen=True)
class Classification:
    """The safety classification of one change: every finding, and the verdict they add up to."""

    findings: tuple[Finding, ...] = ()

    @property
    def verdict(self) -> str:
        effects = {finding.effect for finding in self.findings}
        return next((effect for effect in EFFECTS if effect in effects), NEUTRAL)

    @property
    def weakens(self) -> bool:
        return any(finding.effect == WEAKENS for finding in self.findings)

    @property
    def weakenings(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.effect == WEAKENS)

    def to_dict(self) -> dict[str, Any]:
        return {"classification": self.verdict, "reasons": [finding.to_dict() for finding in self.findings]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Classification":
        return cls(tuple(Finding.from_dict(item) for item in data.get("reasons") or ()))


UNCHANGED = Classification()
FIRST_CONFIGURATION = Classification((Finding("", NEUTRAL, None, None, "first configuration of this model: there is no earlier one to weaken or strengthen (a floor for new models is a validate policy)"),))
NOT_SENT = Classification((Finding("", NEUTRAL, None, None, "only dropped from state: nothing is sent, the live configuration is left alone"),))


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


# --- a weakening needs an explicit yes --------------------------------------


@dataclass(frozen=True)
class Approval:
    """Who allowed a plan's weakenings, and how."""

    by: str
    via: str


def weakening_changes(changes: Iterable["ResourceChange"]) -> tuple["ResourceChange", ...]:
    return tuple(change for change in changes if change.classification.weakens)


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

    def approve(self, ask: Callable[[Sequence["ResourceChange"]], bool], environ: Mapping[str, str]) -> Approval | None:
        """None when nothing weakens; else who allowed it. Under ``confirm``
        without --allow-weakening, ``ask`` must say yes to the weakenings."""
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
        return Approval(actor(environ), via)


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


def actor(environ: Mapping[str, str]) -> str:
    """Who is running: the CI system's actor when there is one, else the local user."""
    for variable in CI_ACTORS:
        if environ.get(variable):
            return f"{environ[variable]} ({variable})"
    from planner.records.model import user_at_host  # as a lock names its holder

    return f"{user_at_host()} (local user)"


def audit_fields(classification: Classification, approval: Approval | None) -> dict[str, Any]:
    """The ``safety`` block of an update's audit entries (and so of its
    governance event): the classification, and for a weakening who allowed it."""
    if classification.verdict == NEUTRAL:
        return {}
    block = classification.to_dict()
    if classification.weakens and approval is not None:
        block.update(allowed_by=approval.by, allowed_via=approval.via)
    return {"safety": block}
