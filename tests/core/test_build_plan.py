"""build_plan as tables of cases: desired YAML, live gateway and recorded state
in, the plan's actions, field paths, drift and safety numbers out.

Built with the real ``planner.model.state.State`` / ``ResourceState`` and the real
``Environment`` / ``ModelFile`` types; expected values are written by hand.
"""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from typing import Any, Mapping

import pytest

from planner.core.plan_file import dumps, loads
from planner.core.planning import build_plan
from planner.model.plan import CREATE, FORGET, NO_OP, UPDATE, FieldChange, Plan
from planner.model.settings import ApplySettings, Environment, GatewaySettings, ModelFile
from planner.model.state import ResourceState, State
from planner.render.plan import render_markdown, render_text

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
ROUTER = "c3d4e5f6-a7b8-4901-8cde-f12345678902"
SUMMARIZER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"
LINEAGE = "5b0c1c4e-2d1f-4c53-9a0e-0a6f5f1e2d3c"
APPLIED_AT = "2026-11-24T09:00:00.000Z"
NOW = "2026-11-25T10:00:00.000Z"

BASE: dict[str, Any] = {
    "model_id": SUPPORT,
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [
        {"filter_type": "pii", "action": "redact", "threshold": 85},
        {"filter_type": "self_harm", "action": "block", "threshold": 10},
    ],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}


def config(model_id: str = SUPPORT, **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(BASE)
    result["model_id"] = model_id
    result.update(changes)
    return result


def live(version: int, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as the gateway returns it: with its read-only fields."""
    return {**copy.deepcopy(dict(configuration)), "version": version, "modifiedDate": "2026-11-24T10:00:00.000Z", "selfUri": "/x"}


def environment(models: Mapping[str, Mapping[str, Any]], *, max_change_percent: float = 100.0) -> Environment:
    files = tuple(
        ModelFile(address, f"environments/dev/models/{address}.yaml", copy.deepcopy(dict(model)), {})
        for address, model in sorted(models.items())
    )
    return Environment("dev", Path("/p"), Path("/p/environments/dev"), GatewaySettings(sandbox=True), None, ApplySettings(10, max_change_percent), None, files)


def recorded(address: str, configuration: Mapping[str, Any], version: int) -> ResourceState:
    return ResourceState(address, str(configuration["model_id"]), dict(configuration), version, "0" * 64, APPLIED_AT)


def state(*resources: ResourceState, serial: int = 3) -> State:
    return State(LINEAGE, serial, {resource.address: resource for resource in resources})


def plan_of(env: Environment, live_configs: Mapping[str, Any], st: State | None, targets: tuple[str, ...] = ()) -> Plan:
    return build_plan(env, live_configs, st, created_at=NOW, tool_version="0.1.0", targets=targets)


# --- one model, one row per situation ------------------------------------------------

PII_90 = {"filter_type": "pii", "action": "redact", "threshold": 90}
SELF_HARM = BASE["safety_filters"][1]
POLITICAL = {"filter_type": "political", "action": "flag", "threshold": 60}
WITHOUT_MODE = {key: value for key, value in BASE.items() if key != "compliance_mode"}

SINGLE_CASES = [
    # live says never configured (404): the first configuration is a create, one change per leaf
    pytest.param(
        config(),
        None,
        CREATE,
        [
            FieldChange("compliance_mode", None, "strict"),
            FieldChange("max_tokens", None, 2048),
            FieldChange("model_id", None, SUPPORT),
            FieldChange("safety_filters[pii]", None, {"action": "redact", "threshold": 85}),
            FieldChange("safety_filters[self_harm]", None, {"action": "block", "threshold": 10}),
            FieldChange("temperature_matrix.creative", None, 1.2),
            FieldChange("temperature_matrix.default", None, 0.7),
            FieldChange("temperature_matrix.precise", None, 0.3),
        ],
        id="never-configured-create",
    ),
    # the same configuration live: nothing to do
    pytest.param(config(), live(4, config()), NO_OP, [], id="equal-no-op"),
    # the live filters listed in another order: a set keyed by filter_type, so no change
    pytest.param(config(), live(4, config(safety_filters=[SELF_HARM, BASE["safety_filters"][0]])), NO_OP, [], id="reorder-only-no-op"),
    # YAML says 1, the gateway answers 1.0: the same number
    pytest.param(
        config(temperature_matrix={"default": 1, "creative": 1, "precise": 0}),
        live(4, config(temperature_matrix={"default": 1.0, "creative": 1.0, "precise": 0.0})),
        NO_OP,
        [],
        id="int-vs-float-no-op",
    ),
    # YAML leaves compliance_mode out; the gateway reports the documented default
    pytest.param(WITHOUT_MODE, live(4, config(compliance_mode="standard")), NO_OP, [], id="default-filled-in-no-op"),
    # ...but a live non-default value is a change back to the default
    pytest.param(WITHOUT_MODE, live(4, config()), UPDATE, [FieldChange("compliance_mode", "strict", "standard")], id="default-differs-update"),
    # a filter added in YAML
    pytest.param(
        config(safety_filters=[*BASE["safety_filters"], POLITICAL]),
        live(4, config()),
        UPDATE,
        [FieldChange("safety_filters[political]", None, {"action": "flag", "threshold": 60})],
        id="filter-added",
    ),
    # a filter removed from YAML
    pytest.param(
        config(safety_filters=[BASE["safety_filters"][0]]),
        live(4, config()),
        UPDATE,
        [FieldChange("safety_filters[self_harm]", {"action": "block", "threshold": 10}, None)],
        id="filter-removed",
    ),
    # a filter's threshold changed (and the list reordered on the way: still one change)
    pytest.param(
        config(safety_filters=[SELF_HARM, PII_90]),
        live(4, config()),
        UPDATE,
        [FieldChange("safety_filters[pii].threshold", 85, 90)],
        id="filter-threshold-changed",
    ),
    # a filter's action and threshold changed
    pytest.param(
        config(safety_filters=[BASE["safety_filters"][0], {"filter_type": "self_harm", "action": "flag", "threshold": 15}]),
        live(4, config()),
        UPDATE,
        [FieldChange("safety_filters[self_harm].action", "block", "flag"), FieldChange("safety_filters[self_harm].threshold", 10, 15)],
        id="filter-action-and-threshold-changed",
    ),
    # one temperature and the token limit: two paths, sorted
    pytest.param(
        config(temperature_matrix={"default": 0.7, "creative": 0.9, "precise": 0.3}, max_tokens=1024),
        live(4, config()),
        UPDATE,
        [FieldChange("max_tokens", 2048, 1024), FieldChange("temperature_matrix.creative", 1.2, 0.9)],
        id="temperature-and-max-tokens",
    ),
]


@pytest.mark.parametrize("desired,live_config,action,changes", SINGLE_CASES)
def test_one_model(desired: dict[str, Any], live_config: dict[str, Any] | None, action: str, changes: list[FieldChange]) -> None:
    plan = plan_of(environment({"support-bot": desired}), {SUPPORT: live_config}, None)
    (change,) = plan.changes
    assert change.address == "support-bot"
    assert change.model_id == SUPPORT
    assert change.action == action
    assert list(change.changes) == changes
    assert change.live_version == (None if live_config is None else 4)
    assert change.file == "environments/dev/models/support-bot.yaml"
    assert plan.has_changes == (action != NO_OP)
    # the body apply will PUT: documented fields only, defaults filled, no read-only fields
    assert change.after is not None and "version" not in change.after
    assert change.after["compliance_mode"] == desired.get("compliance_mode", "standard")
    if live_config is None:
        assert change.before is None
    else:
        assert change.before is not None and "version" not in change.before and "selfUri" not in change.before


def test_upper_case_model_id_in_yaml_matches_the_lower_case_live_key() -> None:
    plan = plan_of(environment({"support-bot": config(SUPPORT.upper())}), {SUPPORT: live(2, config())}, None)
    assert [(c.model_id, c.action) for c in plan.changes] == [(SUPPORT, NO_OP)]


# --- a renamed file: move ------------------------------------------------------------

MOVE_CASES = [
    # renamed, configuration unchanged: a move alone (no-op with a previous address), nothing forgotten
    pytest.param({"support": config()}, {"support-bot": 4}, config(), [("support", NO_OP, "support-bot")], id="renamed"),
    # renamed and changed: an update that remembers where it came from
    pytest.param({"support": config(max_tokens=1024)}, {"support-bot": 4}, config(), [("support", UPDATE, "support-bot")], id="renamed-and-changed"),
    # the new address is already in state (a crash between a move's two records): the old one is forgotten
    pytest.param({"support": config()}, {"support-bot": 4, "support": 4}, config(), [("support", NO_OP, None), ("support-bot", FORGET, None)], id="both-recorded"),
    # a new file for another model, and an old address of a different model: no move, a forget
    pytest.param({"router": config(ROUTER)}, {"support-bot": 4}, config(), [("router", CREATE, None), ("support-bot", FORGET, None)], id="other-model"),
]


@pytest.mark.parametrize("desired,recorded_versions,live_config,expected", MOVE_CASES)
def test_moves(desired: dict[str, Any], recorded_versions: dict[str, int], live_config: dict[str, Any], expected: list[tuple[str, str, str | None]]) -> None:
    plan = plan_of(environment(desired), {SUPPORT: live(4, live_config)}, state(*(recorded(address, config(), version) for address, version in recorded_versions.items())))
    assert [(c.address, c.action, c.previous_address) for c in plan.changes] == expected
    moves = [c for c in plan.changes if c.moved]
    assert plan.has_changes and plan.actionable == tuple(c for c in plan.changes if c.action != NO_OP or c.moved)
    assert plan.count(FORGET) == sum(1 for _, action, _ in expected if action == FORGET)
    assert [m.state_version for m in moves] == [4] * len(moves)
    assert plan.safety.changed == sum(1 for _, action, _ in expected if action in (CREATE, UPDATE))  # a move sends nothing


def test_a_move_round_trips_through_the_saved_plan_and_renders_as_such() -> None:
    plan = plan_of(environment({"support": config()}), {SUPPORT: live(4, config())}, state(recorded("support-bot", config(), 4)))
    document = json.loads(dumps(plan))
    (entry,) = document["resource_changes"]
    assert (entry["address"], entry["previous_address"], entry["change"]["actions"]) == ("support", "support-bot", ["no-op"])
    assert loads(dumps(plan)) == plan
    out = io.StringIO()
    render_text(plan, out)
    assert "  # support-bot has moved to support\n    move support-bot to support\n" in out.getvalue()


def test_a_configuration_removed_on_the_gateway_is_a_create_that_knows_the_state_version() -> None:
    plan = plan_of(environment({"support-bot": config()}), {SUPPORT: None}, state(recorded("support-bot", config(), 7)))
    ((change,), (outside,)) = plan.changes, plan.drift
    assert (change.action, change.state_version, change.removed_on_gateway) == (CREATE, 7, True)
    assert (outside.after, outside.state_version) == (None, 7)
    never = plan_of(environment({"support-bot": config()}), {SUPPORT: None}, None).changes[0]
    assert (never.action, never.state_version, never.removed_on_gateway) == (CREATE, None, False)


# --- file removed: forget ------------------------------------------------------------


def test_a_removed_file_is_forgotten_and_live_is_left_alone() -> None:
    old = config(ROUTER, max_tokens=512)
    plan = plan_of(
        environment({"support-bot": config()}),
        {SUPPORT: live(4, config())},  # the router's live configuration is not even fetched
        state(recorded("support-bot", config(), 4), recorded("intent-router", old, 7)),
    )
    assert [(c.address, c.action) for c in plan.changes] == [("intent-router", FORGET), ("support-bot", NO_OP)]
    forget = plan.changes[0]
    assert forget.model_id == ROUTER
    assert forget.before == old  # what llmplan recorded
    assert forget.after is None  # nothing is PUT
    assert forget.changes == ()
    assert forget.live_version == 7
    assert forget.file is None
    # a forget writes nothing to the gateway: it is not counted as a change of live models
    assert plan.safety.changed == 0
    assert plan.count(FORGET) == 1 and plan.has_changes


# --- changed outside llmplan ---------------------------------------------------------


def test_live_changed_since_the_last_apply_is_reported_as_drift_with_its_field() -> None:
    applied = config()
    plan = plan_of(
        environment({"support-bot": applied}),
        {SUPPORT: live(5, config(max_tokens=1024))},  # someone lowered max_tokens in the console
        state(recorded("support-bot", applied, 4)),
    )
    (change,) = plan.changes
    assert change.action == UPDATE
    assert change.changes == (FieldChange("max_tokens", 1024, 2048),)  # the plan puts it back
    assert change.live_version == 5
    (drift,) = plan.drift
    assert drift.address == "support-bot"
    assert drift.model_id == SUPPORT
    assert drift.changes == (FieldChange("max_tokens", 2048, 1024),)  # recorded → live
    assert (drift.state_version, drift.live_version, drift.applied_at) == (4, 5, APPLIED_AT)
    assert drift.before is not None and drift.before["max_tokens"] == 2048
    assert drift.after is not None and drift.after["max_tokens"] == 1024


def test_a_yaml_edit_alone_is_an_update_but_not_drift() -> None:
    applied = config()
    plan = plan_of(
        environment({"support-bot": config(max_tokens=1024)}),
        {SUPPORT: live(4, applied)},
        state(recorded("support-bot", applied, 4)),
    )
    assert [c.action for c in plan.changes] == [UPDATE]
    assert plan.drift == ()


def test_a_live_change_that_happens_to_match_the_yaml_is_drift_but_no_change() -> None:
    plan = plan_of(
        environment({"support-bot": config(max_tokens=1024)}),
        {SUPPORT: live(5, config(max_tokens=1024))},
        state(recorded("support-bot", config(), 4)),
    )
    assert [c.action for c in plan.changes] == [NO_OP]
    assert [d.changes for d in plan.drift] == [(FieldChange("max_tokens", 2048, 1024),)]
    assert not plan.has_changes


# --- --target ------------------------------------------------------------------------

THREE = {"support-bot": config(max_tokens=1024), "intent-router": config(ROUTER, max_tokens=512), "summarizer": config(SUMMARIZER)}
THREE_LIVE = {SUPPORT: live(4, config()), ROUTER: None, SUMMARIZER: live(1, config(SUMMARIZER))}


def three_state() -> State:
    return state(recorded("support-bot", config(), 4), recorded("old-bot", config("e5f6a7b8-c9d0-4123-8ef0-234567890124"), 2))


TARGET_CASES = [
    # no target: every address, the forget included
    pytest.param((), [("intent-router", CREATE), ("old-bot", FORGET), ("summarizer", NO_OP), ("support-bot", UPDATE)], id="all"),
    # one managed address: only it
    pytest.param(("support-bot",), [("support-bot", UPDATE)], id="one-update"),
    # targeting a removed file's address plans only its forget
    pytest.param(("old-bot",), [("old-bot", FORGET)], id="only-the-forget"),
    # two targets, the forget left out
    pytest.param(("intent-router", "summarizer"), [("intent-router", CREATE), ("summarizer", NO_OP)], id="two-without-forget"),
]


@pytest.mark.parametrize("targets,expected", TARGET_CASES)
def test_target_limits_changes_and_forgets(targets: tuple[str, ...], expected: list[tuple[str, str]]) -> None:
    plan = plan_of(environment(THREE), THREE_LIVE, three_state(), targets)
    assert [(c.address, c.action) for c in plan.changes] == expected
    assert plan.targets == tuple(sorted(targets))


@pytest.mark.parametrize("targets", [(), ("support-bot",)], ids=["all", "one-target"])
def test_the_plan_keeps_every_file_and_the_whole_state_whatever_the_targets(targets: tuple[str, ...]) -> None:
    """Terraform's configuration and prior_state sections describe the
    environment, not just what the plan touches."""
    plan = plan_of(environment(THREE), THREE_LIVE, three_state(), targets)
    assert [(m.address, m.file) for m in plan.configuration] == [
        ("intent-router", "environments/dev/models/intent-router.yaml"),
        ("summarizer", "environments/dev/models/summarizer.yaml"),
        ("support-bot", "environments/dev/models/support-bot.yaml"),
    ]
    desired = {m.address: m.values for m in plan.configuration}
    assert desired["support-bot"]["max_tokens"] == 1024 and desired["intent-router"]["model_id"] == ROUTER
    assert [(r.address, r.version, r.applied_at) for r in plan.prior_state] == [("old-bot", 2, APPLIED_AT), ("support-bot", 4, APPLIED_AT)]
    assert plan.prior_state[1].values["max_tokens"] == 2048  # as recorded, not as desired


def test_target_limits_drift_too() -> None:
    env = environment({"support-bot": config(), "summarizer": config(SUMMARIZER)})
    live_configs = {SUPPORT: live(5, config(max_tokens=1024)), SUMMARIZER: live(2, config(SUMMARIZER, max_tokens=1))}
    st = state(recorded("support-bot", config(), 4), recorded("summarizer", config(SUMMARIZER), 1))
    assert [d.address for d in plan_of(env, live_configs, st).drift] == ["summarizer", "support-bot"]
    assert [d.address for d in plan_of(env, live_configs, st, ("summarizer",)).drift] == ["summarizer"]


# --- the safety check ----------------------------------------------------------------


def ten_models(changed: int, *, max_change_percent: float) -> Plan:
    """Ten managed models, the first ``changed`` of them with a new max_tokens."""
    ids = [f"00000000-0000-4000-8000-{index:012d}" for index in range(10)]
    desired = {f"m{index}": config(model_id, max_tokens=1000 if index < changed else 2048) for index, model_id in enumerate(ids)}
    live_configs = {model_id: live(1, config(model_id)) for model_id in ids}
    return plan_of(environment(desired, max_change_percent=max_change_percent), live_configs, None)


SAFETY_CASES = [
    # 4 of 10 against 30 %: over the limit
    pytest.param(4, 30.0, 40.0, True, id="40-over-30"),
    # exactly at the limit is allowed (refused only above it)
    pytest.param(3, 30.0, 30.0, False, id="30-at-30"),
    # nothing changes: never exceeded, even with a 0 % limit
    pytest.param(0, 0.0, 0.0, False, id="none-with-0-limit"),
    # one change with a 0 % limit: exceeded
    pytest.param(1, 0.0, 10.0, True, id="one-with-0-limit"),
    # everything with the default 100 %: allowed
    pytest.param(10, 100.0, 100.0, False, id="all-with-100"),
]


@pytest.mark.parametrize("changed,limit,percent,exceeded", SAFETY_CASES)
def test_safety_numbers(changed: int, limit: float, percent: float, exceeded: bool) -> None:
    plan = ten_models(changed, max_change_percent=limit)
    assert (plan.safety.changed, plan.safety.total, plan.safety.max_change_percent) == (changed, 10, limit)
    assert plan.safety.percent == pytest.approx(percent)
    assert plan.safety.exceeded is exceeded


def test_the_safety_message_says_the_numbers_and_the_remedy() -> None:
    assert ten_models(4, max_change_percent=30).safety.describe() == (
        "4 of 10 models would change (40 %), over the 30 % limit of this environment; review the plan and re-run with --force"
    )


def test_creates_count_as_changes_for_the_safety_check() -> None:
    plan = plan_of(environment(THREE, max_change_percent=50), THREE_LIVE, three_state())
    # intent-router (create) and support-bot (update) of 3 models; the forget is not a write
    assert (plan.safety.changed, plan.safety.total) == (2, 3)
    assert plan.safety.exceeded


# --- determinism ---------------------------------------------------------------------


def shuffled(mapping: Mapping[str, Any], seed: int) -> dict[str, Any]:
    items = list(mapping.items())
    random.Random(seed).shuffle(items)
    return dict(items)


def test_the_same_input_gives_byte_identical_output_whatever_the_input_order() -> None:
    env = environment(THREE)
    reversed_env = Environment(env.name, env.root, env.directory, env.gateway, env.governance, env.apply, env.policy, tuple(reversed(env.models)))
    live_configs = {**THREE_LIVE, SUPPORT: live(5, config(max_tokens=4000, safety_filters=[SELF_HARM, PII_90]))}
    outputs = set()
    for seed, this_env in enumerate([env, reversed_env, env, reversed_env]):
        plan = plan_of(this_env, shuffled(live_configs, seed), three_state())
        text, markdown = io.StringIO(), io.StringIO()
        render_text(plan, text)
        render_markdown(plan, markdown)
        outputs.add((dumps(plan), text.getvalue(), markdown.getvalue()))
    assert len(outputs) == 1


def test_only_the_timestamp_differs_between_two_plans_of_the_same_input() -> None:
    first = build_plan(environment(THREE), THREE_LIVE, three_state(), created_at="2026-11-25T10:00:00.000Z", tool_version="0.1.0")
    second = build_plan(environment(THREE), THREE_LIVE, three_state(), created_at="2026-11-25T11:30:00.000Z", tool_version="0.1.0")
    import json

    one, two = json.loads(dumps(first)), json.loads(dumps(second))
    for document in (one, two):
        del document["timestamp"]
        del document["llmplan"]["checksum"]  # seals the timestamp too
    assert one == two
    text_one, text_two = io.StringIO(), io.StringIO()
    render_text(first, text_one)
    render_text(second, text_two)
    assert text_one.getvalue() == text_two.getvalue()
