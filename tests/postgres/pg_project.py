"""A project whose records live in PostgreSQL: ``state: {backend: postgres, schema: …}``, the DSN in its environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from tests.apply.project import ApplyProject  # noqa: E402

DSN_VARIABLE = "LLMPLAN_PG_DSN"
READER_PASSWORD = "reader-canary-Kp4-secret"


def reader_dsn(postgres: Any, schema: str) -> tuple[str, str]:
    """A login role with USAGE on the schema and SELECT on its tables, as the examples' README grants it."""
    role = f"reader_{schema}"
    postgres.psql(
        f"CREATE ROLE {role} LOGIN PASSWORD '{READER_PASSWORD}'; "
        f"GRANT USAGE ON SCHEMA {schema} TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}; "
        f"REVOKE CREATE ON DATABASE llmplan FROM PUBLIC"
    )
    parts = urlsplit(postgres.dsn)
    return role, urlunsplit(parts._replace(netloc=f"{role}:{READER_PASSWORD}@{parts.hostname}:{parts.port}"))


class PgProject(ApplyProject):
    def __init__(self, root: Path, gateway_url: str, *, dsn: str, schema: str, env: str = "dev", webhook_url: str | None = None) -> None:
        self.dsn = dsn
        self.schema = schema
        super().__init__(root, gateway_url, env, webhook_url=webhook_url)

    def write_environment(self, *, max_change_percent: float = 100, gateway: str | None = None, parallelism: int = 4, backend: str = "postgres") -> None:
        super().write_environment(max_change_percent=max_change_percent, gateway=gateway, parallelism=parallelism)
        with open(self.env_dir / "environment.yaml", "a", encoding="utf-8") as handle:
            handle.write(f"state:\n  backend: {backend}\n  schema: {self.schema}\n")

    def environ(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        return super().environ({DSN_VARIABLE: self.dsn, **(extra or {})})

    def audit(self, *, commits: bool = False) -> list[dict[str, Any]]:
        done = self.run("audit", "show", "--env", self.env, "--format", "json")
        assert done.code == 0, str(done)
        entries = list(json.loads(done.stdout))
        return entries if commits else [entry for entry in entries if entry.get("action") != "state_commit"]

    def state_view(self) -> dict[str, Any]:
        done = self.run("state", "show", "--env", self.env, "--format", "json")
        assert done.code == 0, str(done)
        return dict(json.loads(done.stdout))
