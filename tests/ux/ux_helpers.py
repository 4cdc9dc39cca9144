"""Sandbox admin calls the user-experience tests need beyond ``Admin``."""

from __future__ import annotations

from typing import Any

import requests

from tests.plan.e2e_project import Admin


def remove_configuration(admin: Admin, model_id: str) -> None:
    """Remove a model's configuration on the gateway, keeping the model (as a console user can)."""
    token = requests.post(f"{admin.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=10).json()["access_token"]
    model: dict[str, Any] = requests.get(f"{admin.url}/api/v2/ai/models/{model_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    admin.add_models({"id": model["id"], "name": model["name"], "capabilities": model["capabilities"], "configuration": None})
    assert admin.configuration(model_id) is None
