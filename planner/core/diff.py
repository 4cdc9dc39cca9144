"""Comparing configurations: normalization, canonical hash, field-level diff.

Two configurations are equal when they mean the same thing to the gateway:
defaults filled in, read-only bookkeeping (``version``…) dropped, ``1`` and
``1.0`` the same number, and safety filters a set keyed by ``filter_type`` so
reordering a list is not a change.  Equality is decided first, on the
normalized data (what equal canonical JSON would say, without writing it
out); only the pairs that differ are walked field by field to say which
fields, by deepdiff for any shape a configuration should not have.  The
canonical hash is what state and the audit trail record.
Pure functions over plain data.
"""

from __future__ import annotations

from typing import Any, Mapping

from planner.model.configuration import FIELDS, canonical_json, sha256_hex, with_defaults
from planner.model.plan import FieldChange

FILTERS = "safety_filters"


_UNCHANGED = frozenset({str, int, bool, type(None)})  # values normalization leaves as they are


def _normal_value(value: Any) -> Any:
    """Plain JSON data with integral floats as ints, so ``1`` equals ``1.0``.

    Checks exact types (configurations are plain JSON data): ABC checks
    cost more than the rest of a 10,000-model plan.
    """
    kind = type(value)
    if kind in _UNCHANGED:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dict:
        return {key: item if type(item) in _UNCHANGED else _normal_value(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [item if type(item) in _UNCHANGED else _normal_value(item) for item in value]
    if isinstance(value, Mapping):  # a frozen mapping from state
        return {key: _normal_value(item) for key, item in value.items()}
    return value


def to_payload(config: Mapping[str, Any]) -> dict[str, Any]:
    """The request body for a configuration: documented fields, defaults
    filled, numbers normalized, filters in their written order.

    Only the documented fields take part: a field the gateway adds in a later
    API version must not turn every plan into an update.
    """
    full = with_defaults(config)
    payload = {key: _normal_value(full[key]) for key in FIELDS if key in full}
    if isinstance(payload.get("model_id"), str):
        payload["model_id"] = payload["model_id"].lower()
    return payload


def _keyed(payload: dict[str, Any]) -> dict[str, Any]:
    """Safety filters as a mapping by filter_type: their order means nothing."""
    filters = payload.get(FILTERS)
    if type(filters) is not list:
        return payload
    keyed = {item.get("filter_type"): {k: v for k, v in item.items() if k != "filter_type"} for item in filters if type(item) is dict}
    return {**payload, FILTERS: keyed}


def payload_fingerprint(payload: dict[str, Any]) -> str:
    """Canonical text of a payload (as ``to_payload`` makes it): equal text,
    equal meaning."""
    return canonical_json(_keyed(payload))


def same_payload(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two payloads (as ``to_payload`` makes them) mean the same:
    what equal fingerprints say, without writing either out (a 10,000-model
    plan spent 0.2 s serializing payloads only to compare them)."""
    return _strictly_equal(_keyed(first), _keyed(second))


def _strictly_equal(first: Any, second: Any) -> bool:
    """``==`` where ``True`` is not ``1``: values of one JSON type and equal.

    Leaves are compared in the loop, not by a call each: this runs for every
    model of every plan."""
    kind = type(first)
    if kind is not type(second):
        return False
    if kind is dict:
        if first.keys() != second.keys():
            return False
        pairs: Any = ((value, second[key]) for key, value in first.items())
    elif kind is list:
        if len(first) != len(second):
            return False
        pairs = zip(first, second, strict=True)
    else:
        return bool(first == second)
    for value, other in pairs:
        inner = type(value)
        if inner is not type(other):
            return False
        if inner is dict or inner is list:
            if not _strictly_equal(value, other):
                return False
        elif value != other:
            return False
    return True


def configuration_hash(config: Mapping[str, Any]) -> str:
    """Canonical hash of the normalized form: equal hash, equal meaning."""
    return sha256_hex(payload_fingerprint(to_payload(config)))


def diff_configurations(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[FieldChange, ...]:
    """Field-level changes from ``before`` to ``after`` (either may be None),
    sorted by path so two runs print the same plan."""
    return diff_payloads(to_payload(before) if before is not None else None, to_payload(after) if after is not None else None)


def diff_payloads(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[FieldChange, ...]:
    """``diff_configurations`` for payloads ``to_payload`` already made."""
    old = _keyed(before) if before is not None else {}
    new = _keyed(after) if after is not None else {}
    if _strictly_equal(old, new):
        return ()
    if not old or not new:  # a whole configuration appears or goes: one change per leaf
        side = new or old
        leaves = sorted(_leaves(side, []), key=lambda item: item[0])
        return tuple(FieldChange(path, None, value) if new else FieldChange(path, value, None) for path, value in leaves)
    walked = _walk_plain(old, new, [], [])
    if walked is not None:
        return tuple(sorted(walked, key=lambda change: change.path))
    return _deepdiff_changes(old, new)


_SCALARS = (str, int, float, bool, type(None))


def _walk_plain(old: dict[str, Any], new: dict[str, Any], parts: list[Any], found: list[FieldChange]) -> list[FieldChange] | None:
    """What deepdiff reports for two dicts of dicts and scalars (the shape of
    every normalized configuration), at 1/100 of its cost: 1.3 ms a pair
    made a 1,000-update plan spend 1.3 s in deepdiff.  None for any other
    shape (lists, odd keys or values), which deepdiff then handles.
    ``tests/core/test_diff_walk.py`` holds the two equal on generated pairs.
    """
    for key in old.keys() | new.keys():
        if type(key) is not str:
            return None
        path = parts + [key]
        if key not in new:
            found.append(FieldChange(format_field_path(path), old[key], None))
            continue
        if key not in old:
            found.append(FieldChange(format_field_path(path), None, new[key]))
            continue
        before, after = old[key], new[key]
        if type(before) is dict and type(after) is dict:
            if _walk_plain(before, after, path, found) is None:
                return None
        elif not (type(before) in _SCALARS or type(before) is dict) or not (type(after) in _SCALARS or type(after) is dict):
            return None
        elif type(before) is not type(after) or before != after:
            found.append(FieldChange(format_field_path(path), before, after))
    return found


def _deepdiff_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    from deepdiff import DeepDiff  # imported here: the fast paths above need none of it
    from deepdiff.helper import NotPresent  # lazy, as the line above (deepdiff: 0.5 s to import)

    changes: list[FieldChange] = []
    # threshold_to_diff_deeper=0: field by field even when two mappings share
    # no key (deepdiff >= 8 otherwise reports such a pair as one whole value).
    for levels in DeepDiff(old, new, verbose_level=2, threshold_to_diff_deeper=0).tree.values():
        for level in levels:
            path = format_field_path(level.path(output_format="list"))
            t1 = None if isinstance(level.t1, NotPresent) else level.t1
            t2 = None if isinstance(level.t2, NotPresent) else level.t2
            changes.append(FieldChange(path, t1, t2))
    return tuple(sorted(changes, key=lambda change: change.path))


def unchanged_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, changes: tuple[FieldChange, ...]) -> int:
    """How many fields (leaves, each filter's action and threshold one each;
    ``model_id`` not counted) an update leaves as they are: Terraform's
    ``# (N unchanged attributes hidden)``. 0 when there is no before or after."""
    if before is None or after is None:
        return 0
    changed = [change.path for change in changes]
    fields = [path for path in _all_leaves(_keyed(to_payload(after)), []) if path != "model_id"]
    return sum(1 for path in fields if not any(path == other or path.startswith((other + ".", other + "[")) for other in changed))


def _all_leaves(value: Any, parts: list[Any]) -> list[str]:
    if isinstance(value, Mapping) and value:
        return [path for key, item in value.items() for path in _all_leaves(item, parts + [key])]
    return [format_field_path(parts)]


def _leaves(value: Any, parts: list[Any]) -> list[tuple[str, Any]]:
    """Paths and values down to single fields; one safety filter is one leaf."""
    if isinstance(value, Mapping) and value and not (len(parts) == 2 and parts[0] == FILTERS):
        found: list[tuple[str, Any]] = []
        for key, item in value.items():
            found.extend(_leaves(item, parts + [key]))
        return found
    return [(format_field_path(parts), value)]


def format_field_path(parts: list[Any]) -> str:
    """``['safety_filters', 'pii', 'threshold']`` -> ``safety_filters[pii].threshold``."""
    out = ""
    for index, part in enumerate(parts):
        if isinstance(part, int) or (index == 1 and parts[0] == FILTERS):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
