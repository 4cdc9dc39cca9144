"""state, force-unlock, audit, governance: looking after an environment's records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from planner.app import records as records_app
from planner.app import state_edits
from planner.app.migrate import migrate_state
from planner.cli.options import CONTEXT, Found, display, emit, env_option, format_option, lock_timeout_option, root_option
from planner.model.errors import AuditError
from planner.render.records import audit_verify_document, migration_listing, render_audit_entries, state_listing


@click.group(context_settings=CONTEXT)
def state() -> None:
    """Inspect and edit the recorded state of an environment.

    State is what llmplan last applied; rm and mv change it by hand (under
    the lock, audited) and never touch the gateway.

    \b
    Examples:
      llmplan state list --env prod
      llmplan state show --env prod
      llmplan state mv --env prod summarizer summ
      llmplan state rm --env prod old-bot
    """


@state.command("list", context_settings=CONTEXT)
@env_option
@root_option
def state_list(env: str, root: Path) -> None:
    """List the model addresses in state, one per line.

    \b
    Example:
      llmplan state list --env dev
    """
    view = records_app.show_state(root, env)
    for warning in view.warnings:
        emit(f"Warning: {warning}", err=True)
    for address in sorted(view.state.resources) if view.state is not None else ():
        emit(address)


@state.command("rm", context_settings=CONTEXT)
@env_option
@root_option
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@lock_timeout_option
def state_rm(env: str, root: Path, addresses: tuple[str, ...], lock_timeout: float) -> None:
    """Stop managing models: drop them from state, leaving the gateway alone.

    Each removal is audited (state_rm). Remove the model file too, or the
    next apply records the model again.

    \b
    Example:
      llmplan state rm --env dev old-bot
    """
    for edit in state_edits.remove(root, env, addresses, lock_timeout=lock_timeout):
        emit(f"Removed {edit.address} ({edit.model_id}) from the state of {env}; its live configuration is left alone.")
        if edit.file is not None:
            emit(f"Note: {display(edit.file, root)} still exists, so the next apply manages {edit.address} again; delete the file to stop managing it.", err=True)


@state.command("mv", context_settings=CONTEXT)
@env_option
@root_option
@click.argument("old")
@click.argument("new")
@lock_timeout_option
def state_mv(env: str, root: Path, old: str, new: str, lock_timeout: float) -> None:
    """Record the model at address OLD under address NEW (no request is sent).

    plan finds a renamed model file by itself and apply moves its record;
    state mv does the same by hand. Audited (state_mv).

    \b
    Example:
      llmplan state mv --env dev summarizer summ
    """
    edit = state_edits.move(root, env, old, new, lock_timeout=lock_timeout)
    emit(f"Moved {old} to {new} ({edit.model_id}) in the state of {env}.")
    if edit.file is None:
        emit(f"Note: there is no model file for {new} yet; rename the file of {old} to {new}.yaml, or the next plan moves the model back.", err=True)


@state.command("show", context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "json")
def state_show(env: str, root: Path, output_format: str) -> None:
    """Show what state holds: lineage, serial, models, lock holder.

    \b
    Example:
      llmplan state show --env dev --format json
    """
    view = records_app.show_state(root, env)
    if output_format == "json":
        document = view.state.to_dict() if view.state is not None else None
        emit(json.dumps({"environment": env, "state": document, "lock": view.lock.to_dict() if view.lock else None, "warnings": list(view.warnings)}, indent=2, ensure_ascii=False))
        return
    for warning in view.warnings:
        emit(f"Warning: {warning}", err=True)
    for line in state_listing(view):
        emit(line)


@state.command("migrate", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--from", "source", type=click.Choice(["local", "postgres"]), help="Where the records are now (default: the backend environment.yaml does not name).")
@click.option(
    "--discard-target",
    metavar="LINEAGE",
    help="The target holds records of another lineage (a fresh start made before migrating) to throw away: "
    "name that lineage, as the refusal printed it. They are kept aside (a discarded-… folder, or rows under another name), not deleted.",
)
@lock_timeout_option
def state_migrate(env: str, root: Path, source: str | None, discard_target: str | None, lock_timeout: float) -> None:
    """Move an environment's records to the backend environment.yaml now names.

    Copies the state (lineage and serial kept), the audit trail (every entry
    unchanged, the chain verified before and after) and the governance
    events still waiting. Refuses a target holding another lineage (unless
    --discard-target names it) or a newer state; a second run finds nothing
    to copy. The source is left as it was. Set state.backend first, then
    run this; --from moves back.

    \b
    Examples:
      llmplan state migrate --env prod                 # local files → PostgreSQL
      llmplan state migrate --env prod --from postgres # after setting backend: local again
      llmplan state migrate --env prod --discard-target 8ca3dbef-…  # the target's fresh start set aside
    """
    result = migrate_state(root, env, source_backend=source, lock_timeout=lock_timeout, discard_target=discard_target)
    for line in migration_listing(result):
        emit(line)


@click.command("force-unlock", context_settings=CONTEXT)
@env_option
@root_option
@click.argument("lock_id")
def force_unlock(env: str, root: Path, lock_id: str) -> None:
    """Remove a stale lock left by a process that no longer runs.

    The id is the one a refused command printed. A lock whose holder is
    still alive is never removed.

    \b
    Example:
      llmplan force-unlock --env prod 3f2c9a1e-…
    """
    records_app.force_unlock(root, env, lock_id)
    emit(f"Lock {lock_id} of environment {env} removed.")


@click.group(context_settings=CONTEXT)
def audit() -> None:
    """Check and read the hash-chained audit trail of an environment.

    \b
    Examples:
      llmplan audit verify --env prod
      llmplan audit show --env prod --format json
    """


@audit.command("verify", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--repair", is_flag=True, help="Set aside a torn last line (from a crash) and record the repair.")
@lock_timeout_option
@format_option("text", "json")
def audit_verify(env: str, root: Path, repair: bool, lock_timeout: float, output_format: str) -> Found:
    """Check that no audit line was edited, removed, reordered or inserted.

    Reads the whole trail once, in constant memory. Exit 0 when the chain
    verifies, 1 naming the first bad line otherwise. With --format json, one
    document either way: ok, entries, first_bad_line, problem, repaired.

    \b
    Examples:
      llmplan audit verify --env prod
      llmplan audit verify --env prod --format json
    """
    report, repaired = records_app.verify_audit(root, env, repair=repair, lock_timeout=lock_timeout)
    if repaired is not None:
        emit(f"Repaired: moved a torn last line ({repaired.fragment_bytes} bytes) to {repaired.torn_path} and recorded the repair in the trail", err=True)
    if output_format == "json":
        try:
            report.raise_if_broken(env)
            broken = None
        except AuditError as error:
            broken = error
        emit(audit_verify_document(env, report, repaired, broken))
        if broken is None:
            return Found.NOTHING
        emit(f"Error: {broken.message}", err=True)
        if broken.hint:
            emit(f"Hint: {broken.hint}", err=True)
        return Found.ERRORS
    report.raise_if_broken(env)
    emit(f"audit trail of {env} verifies: {report.entries} entr{'y' if report.entries == 1 else 'ies'}, chain intact")
    return Found.NOTHING


@audit.command("show", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--model-id", help="Only entries of this model.")
@format_option("text", "json")
def audit_show(env: str, root: Path, model_id: str | None, output_format: str) -> None:
    """List audit entries, oldest first.

    \b
    Example:
      llmplan audit show --env prod --model-id a1b2c3d4-e5f6-7890-abcd-ef1234567890
    """
    render_audit_entries(records_app.audit_entries(root, env, model_id=model_id), sys.stdout, output_format)


@click.group(context_settings=CONTEXT)
def governance() -> None:
    """Governance webhook deliveries (signed events after each applied change).

    \b
    Example:
      llmplan governance flush --env prod
    """


@governance.command("flush", context_settings=CONTEXT)
@env_option
@root_option
@lock_timeout_option
def governance_flush(env: str, root: Path, lock_timeout: float) -> None:
    """Resend governance events that could not be delivered during apply.

    Exit 1 if some are still undelivered (they stay in the outbox).

    \b
    Example:
      llmplan governance flush --env prod
    """
    result = records_app.flush_governance(root, env, lock_timeout=lock_timeout)
    if result is None:
        emit(f"environment {env} has no governance webhook configured")
        return
    emit(f"governance: {result.delivered} delivered, {result.failed} failed, {result.remaining} still queued")
    result.raise_if_undelivered()
