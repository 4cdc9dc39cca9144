"""Safety as data: the classification rules of an environment and what a change means for safety.

A change *weakens*, *strengthens*, changes *behaviour* (neither:
temperature, token limit) or is *neutral*, each verdict with a reason in
words. The rules are data (``schemas/safety-rules.json``, overridden key by
key by an environment's ``safety:`` block); classifying a change by them is
:mod:`planner.core.safety`. docs/safety.md explains the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from planner.model.schemas import schemas_dir

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


@dataclass(frozen=True)
class Approval:
    """Who allowed a plan's weakenings, and how."""

    by: str
    via: str
