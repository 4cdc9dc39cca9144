"""Whether a saved plan was applied before, from the audit trail: a stale plan says so when that is why."""

from __future__ import annotations

from planner.adapters.records.interfaces import AuditReader
from planner.model.audit import SUCCESS, UPDATE_ACTION
from planner.model.errors import PlanAlreadyApplied
from planner.model.plan import WRITE_ACTIONS, Plan


def raise_if_applied_before(plan: Plan, audit: AuditReader) -> None:
    """PlanAlreadyApplied if the audit trail holds outcomes of this saved plan (by its checksum).

    Called when a saved plan turned out stale: if it is stale because it was
    applied already, in whole or in part, saying so (and what finishes the
    job) is more useful than "another apply ran". Reads the trail only from
    the entry that vouched for the state the plan was made against: what
    happened since, never the whole history.
    """
    checksum = plan.checksum
    if not checksum or (plan.state_audit_position is None and plan.state_serial > 0):
        return
    entries = audit.entries(position=plan.state_audit_position)
    applied: set[str] = set()
    when = ""
    for entry in entries:
        if entry.get("plan_checksum") != checksum or entry.get("action") != UPDATE_ACTION:
            continue
        if entry.get("status") == SUCCESS:
            applied.add(str(entry.get("address")))
            when = when or str(entry.get("timestamp", ""))
    if not applied:
        return
    writes = [change.address for change in plan.actionable if change.action in WRITE_ACTIONS]
    left = [address for address in writes if address not in applied]
    on = f" on {when[:10]}" if when else ""
    if not left:
        raise PlanAlreadyApplied(
            f"this plan was already applied{on}: all {len(writes)} of its changes are in the audit trail; a saved plan is applied once",
            hint=f"nothing is left to do; `llmplan plan --env {plan.environment}` shows whether anything changed since",
        )
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    raise PlanAlreadyApplied(
        f"this plan was already partly applied{on}: {len(writes) - len(left)} of its {len(writes)} changes were applied, "
        f"{len(left)} not ({shown}); a saved plan is applied once",
        hint=f"plan what is left and review it: `llmplan plan --env {plan.environment} --out plan.json`, then `llmplan apply plan.json`",
    )
