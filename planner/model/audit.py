"""The audit trail's vocabulary: what an entry's ``action``, ``status`` and ``resolved`` say.

``schemas/audit-entry.schema.json`` is the contract of an entry's fields;
these are the words llmplan writes in them, named once.
"""

from __future__ import annotations

import uuid
from typing import Any

from planner.model.state import ResourceState

# action: what an entry records
UPDATE_ACTION = "configuration_update"  # a PUT (its pending intent, then its outcome)
FORGET_ACTION = "state_forget"  # a model file removed: dropped from state, live left alone
MOVE_ACTION = "state_move"  # a renamed model file: its record moved to the new address
REFRESH_ACTION = "state_refresh"  # a live configuration recorded in state (refresh, apply's refresh of unchanged models)
IMPORT_ACTION = "state_import"  # a live configuration adopted into YAML and state
STATE_RM_ACTION = "state_rm"  # ``llmplan state rm``
STATE_MV_ACTION = "state_mv"  # ``llmplan state mv``
COMMIT_ACTION = "state_commit"  # a new state committed: its lineage, serial and checksum (it vouches for the state)
REPAIR_ACTION = "audit_repair"  # a torn last line set aside

# status
PENDING = "pending"  # the intent of an update, written before its request
SUCCESS = "success"
FAILURE = "failure"

# resolved: how an outcome was known
READ_BACK = "read_back"  # the answer was lost; the configuration was read back
SETTLED = "settled"  # a later command settled an operation an interrupted run left open


def recorded_without_request(environment: str, action: str, resource: ResourceState) -> dict[str, Any]:
    """The entry of a record made without a request to the gateway (import,
    refresh, a moved file, ``state mv``/``rm``): it succeeds as it is written."""
    return {
        "operation_id": str(uuid.uuid4()),
        "environment": environment,
        "address": resource.address,
        "model_id": resource.model_id,
        "action": action,
        "status": SUCCESS,
        "latency_ms": 0,
        "payload_hash": resource.payload_hash,
        "compliance_mode": resource.configuration.get("compliance_mode"),
        "version": resource.version,
    }
