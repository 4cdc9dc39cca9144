"""The PostgreSQL variant of the GitHub Actions examples
(examples/ci/github-actions/postgres/): it differs from the Git variant only
where the records live, commits nothing, lets llmplan's lock keep applies
apart, and its steps work against the sandbox gateway and a real PostgreSQL
server: the guard against applying before the migration, the rehearsed and
the real migration, plan and apply on the shared records, and a second
apply that waits for the lock instead of failing."""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from tests.docs.docs_helpers import REPO, Runner, find_step, llmplan_commands, parse_cli, steps, workflow

DSN = "${{ secrets.LLMPLAN_PG_DSN }}"


def by_name(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step.get("name", step.get("uses", "").split("@")[0]): step for step in job["steps"]}


def runs_records_command(step: dict[str, Any]) -> bool:
    return any(args[:1] in (["plan"], ["apply"], ["drift"], ["state"], ["audit"], ["governance"], ["report"]) for args in llmplan_commands(step.get("run", "")))


# --- what differs from the Git variant ---------------------------------------


@pytest.mark.parametrize(
    ("git_name", "only_git", "only_postgres", "changed"),
    [
        # no commit of state/ and no state artifact; a guard before the plan;
        # apply and flush wait for the lock instead of failing
        ("apply.yml", {"Commit state/${{ matrix.environment }} back to main", "Upload state/${{ matrix.environment }}"},
         {"Check that the records are in the database"}, {"Apply the approved plan", "Deliver queued governance events"}),
        ("drift.yml", set(), set(), set()),
    ],
)
def test_the_variant_differs_from_the_git_one_only_where_the_records_live(git_name: str, only_git: set[str], only_postgres: set[str], changed: set[str]) -> None:
    git, postgres = workflow(git_name), workflow(f"postgres/{git_name}")
    assert (postgres["on"], postgres["permissions"], postgres.get("concurrency")) == (git["on"], git["permissions"], git.get("concurrency"))
    assert list(postgres["jobs"]) == list(git["jobs"])
    seen_only_git, seen_only_postgres, seen_changed = set(), set(), set()
    for job_id, job in git["jobs"].items():
        ours, theirs = by_name(postgres["jobs"][job_id]), by_name(job)
        seen_only_git |= theirs.keys() - ours.keys()
        seen_only_postgres |= ours.keys() - theirs.keys()
        for name in ours.keys() & theirs.keys():
            mine, other = dict(ours[name]), dict(theirs[name])
            env = dict(mine.pop("env", {}))
            if runs_records_command(mine):
                assert env.pop("LLMPLAN_PG_DSN") == DSN, name  # the records' database, and only that is added
            assert env == other.pop("env", {}), name
            if mine != other:
                seen_changed.add(name)
    assert (seen_only_git, seen_only_postgres, seen_changed) == (only_git, only_postgres, changed)


def test_the_postgres_apply_commits_nothing_and_waits_for_the_lock() -> None:
    document = workflow("postgres/apply.yml")
    job = document["jobs"]["apply"]
    assert job["permissions"] == {"contents": "read"} and "concurrency" not in job, "the lock in the database keeps applies apart"
    scripts = "\n".join(step["run"] for _, _, step in steps(document) if "run" in step)
    assert not re.search(r"\bgit (add|commit|push)\b", scripts) and "GH_TOKEN" not in json.dumps(job), "nothing is committed or pushed"
    writers = [args for _, _, step in steps(document) if "run" in step for args in llmplan_commands(step["run"]) if args[:1] in (["apply"], ["governance"])]
    assert len(writers) == 3
    for args in writers:
        assert parse_cli(args).params["lock_timeout"] == 600, args


def test_the_migration_is_rehearsed_in_a_service_container_before_the_approved_one() -> None:
    document = workflow("postgres/migrate.yml")
    assert list(document["on"]) == ["workflow_dispatch"]
    rehearse, migrate = document["jobs"]["rehearse"], document["jobs"]["migrate"]
    assert rehearse["if"] == "github.ref == 'refs/heads/main'" and migrate["needs"] == "rehearse"
    (service,) = rehearse["services"].values()
    dsn = urlsplit(find_step(document, "rehearse", "Rehearse")["env"]["LLMPLAN_PG_DSN"])
    environment = service["env"]
    assert (dsn.username, dsn.password, dsn.hostname, dsn.port, dsn.path) == (
        environment["POSTGRES_USER"], environment["POSTGRES_PASSWORD"], "localhost", 5432, f"/{environment['POSTGRES_DB']}"
    )
    assert service["ports"] == ["5432:5432"] and "pg_isready" in service["options"], "steps start once the database answers"
    assert migrate["environment"] == "${{ inputs.environment }}" and "services" not in migrate


# --- the steps, against the sandbox and a real PostgreSQL server --------------


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def cli(run: Runner, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["llmplan", *args], cwd=run.root, env={**run.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def lines_of(stream: IO[str]) -> "queue.Queue[str | None]":
    """Every line of ``stream`` as it comes, then None, read by a thread of its own."""
    lines: "queue.Queue[str | None]" = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for(lines: "queue.Queue[str | None]", text: str, seen: list[str]) -> str:
    """The first line containing ``text`` (each wait bounded: a step that never says it fails the test)."""
    while True:
        line = lines.get(timeout=60)
        assert line is not None, f"ended without saying {text!r}: {''.join(seen)}"
        seen.append(line)
        if text in line:
            return line


@pytest.mark.slow(reason="the whole move to PostgreSQL as the workflows run it: about 25 steps, each a bash script running llmplan against a real server")
def test_moving_to_postgresql_then_applying_while_another_holds_the_lock(tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = f"ci_{uuid.uuid4().hex[:12]}"
    root = tmp_path / "llm-config"
    # dev alone, on the built-in sandbox: drift --all checks every environment there is, and staging and prod need their real gateways
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    run = Runner(root)
    shared = {"LLMPLAN_PG_DSN": postgres.dsn}

    # before: records in Git, as ../apply.yml committed them (the team chose a schema name already)
    settings = root / "environments" / "dev" / "environment.yaml"
    with open(settings, "a", encoding="utf-8") as handle:
        handle.write(f"state:\n  backend: local\n  schema: {schema}\n")
    on_main = settings.read_text(encoding="utf-8")
    switched = on_main.replace("backend: local", "backend: postgres")
    cli(run, "apply", "--env", "dev", "--auto-approve")
    committed = json.loads((root / "state" / "dev" / "state.json").read_text(encoding="utf-8"))

    # had the switch to PostgreSQL merged first, its apply would stop before planning against an empty database
    settings.write_text(switched, encoding="utf-8")
    result, _ = run.step("postgres/apply.yml", "plan", "Check that the records", **shared)
    assert result.returncode == 1
    assert "::error title=llmplan records (dev)::state/dev/state.json is in Git but the database holds no state of dev: run the migrate workflow for dev first" in result.stdout
    settings.write_text(on_main, encoding="utf-8")

    # migrate.yml, job rehearse: this checkout's environment.yaml names PostgreSQL (the schema kept),
    # and the rehearsal fills a throwaway database, not the team's
    result, _ = run.step("postgres/migrate.yml", "rehearse", "Name PostgreSQL")
    assert result.returncode == 0 and "state.backend set to postgres in this checkout" in result.stdout, result.stderr
    assert yaml.safe_load(settings.read_text(encoding="utf-8"))["state"] == {"backend": "postgres", "schema": schema}
    throwaway = f"rehearsal_{schema}"
    postgres.psql(f"CREATE DATABASE {throwaway} OWNER llmplan")
    result, _ = run.step("postgres/migrate.yml", "rehearse", "Rehearse", LLMPLAN_PG_DSN=with_database(postgres.dsn, throwaway))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Migrated from local files" in result.stdout and "Nothing to migrate" in result.stdout
    summary = run.summary.read_text(encoding="utf-8")
    assert "rehearsal: the records of state/dev/ in a throwaway database" in summary
    assert f"lineage {committed['lineage']}, serial 1, 5 model(s)" in summary and "chain intact" in summary
    assert run.step("postgres/apply.yml", "plan", "Check that the records", **shared)[0].returncode == 1, "the team's database is untouched"

    # job migrate (a fresh checkout of main), after approval: the team's database
    settings.write_text(on_main, encoding="utf-8")
    assert run.step("postgres/migrate.yml", "migrate", "Name PostgreSQL")[0].returncode == 0
    result, _ = run.step("postgres/migrate.yml", "migrate", "Migrate the records", **shared)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Next: delete `state/dev/` in a pull request" in run.summary.read_text(encoding="utf-8")

    # the pull request that switches dev to PostgreSQL merges; state/dev/ is still in Git
    settings.write_text(switched, encoding="utf-8")
    result, _ = run.step("postgres/migrate.yml", "migrate", "Name PostgreSQL")
    assert result.returncode == 0 and result.stdout == "" and settings.read_text(encoding="utf-8") == switched
    result, _ = run.step("postgres/apply.yml", "plan", "Check that the records", **shared)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::notice title=llmplan records (dev)::state/dev/state.json is left over from before the migration (serial 1; the database is at 1)" in result.stdout

    # a Git copy of another history, or ahead of the database, is never applied over
    state_file = root / "state" / "dev" / "state.json"
    for edit, expected in (({"lineage": "0" * 36}, "the database holds another history of dev"), ({"serial": 9}, "the database is behind state/dev/state.json (serial 1 < 9)")):
        state_file.write_text(json.dumps({**committed, **edit}), encoding="utf-8")
        result, _ = run.step("postgres/apply.yml", "plan", "Check that the records", **shared)
        assert result.returncode == 1 and f"::error title=llmplan records (dev)::{expected}" in result.stdout
    # the pull request that deletes state/dev/ has merged (sandbox.json stays: it is the sandbox gateway's data)
    for name in ("state.json", "audit.jsonl", "audit.jsonl.head"):
        (root / "state" / "dev" / name).unlink()
    result, _ = run.step("postgres/apply.yml", "plan", "Check that the records", **shared)
    assert result.returncode == 0 and "::" not in result.stdout, result.stdout + result.stderr

    # a change is planned and shown from the records in the database
    model = root / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: 1024"), encoding="utf-8")
    result, _ = run.step("postgres/apply.yml", "plan", "Plan main", **shared)
    assert result.returncode == 0, result.stderr
    result, _ = run.step("postgres/apply.yml", "plan", "Show the plan", SOURCE="a plan of main", **shared)
    assert result.returncode == 0 and "0 to create, 1 to update" in result.stdout, result.stdout + result.stderr

    # another CI run holds the lock: this apply waits for it, naming it, then applies
    from planner.adapters.records.pg.connection import target_of
    from planner.adapters.records.pg.database import Database
    from planner.adapters.records.pg.lock import PostgresLocker

    for variable, value in {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "team/llm-config", "GITHUB_RUN_ID": "41"}.items():
        monkeypatch.setenv(variable, value)
    database = Database(postgres.dsn, target_of(postgres.dsn, schema))
    locker = PostgresLocker(database, "dev")
    held = locker.lock("apply")
    try:
        running = run.start("postgres/apply.yml", "apply", "Apply the approved plan", **shared)
        stderr: list[str] = []
        line = wait_for(lines_of(running.stderr), "for the lock of environment dev", stderr)
        assert f"held by apply (id {held.info.id}" in line and "CI run https://github.com/team/llm-config/actions/runs/41" in line
        assert running.poll() is None, "still waiting, not failed"
    finally:
        locker.unlock(held)
        database.close()
    stdout = running.stdout.read()
    assert running.wait(timeout=120) == 0, stdout + "".join(stderr)
    assert "Apply complete: 1 succeeded, 0 failed, 0 not attempted." in stdout
    result, _ = run.step("postgres/apply.yml", "apply", "Deliver queued governance events", **shared)
    assert result.returncode == 0 and "::warning" not in result.stdout, result.stdout + result.stderr

    # the records are in the database only; drift reads them there
    assert not (root / "state" / "dev" / "state.json").exists()
    assert json.loads(cli(run, "state", "show", "--env", "dev", "--format", "json", **shared).stdout)["state"]["serial"] == 2
    result, outputs = run.step("postgres/drift.yml", "drift", "Detect drift", **shared)
    assert (result.returncode, outputs) == (0, {"drift": "false"}), result.stderr
    result, outputs = run.step("postgres/drift.yml", "drift", "Detect safety weakened", **shared)
    assert (result.returncode, outputs) == (0, {"weakened": "false"}), result.stderr


@pytest.mark.parametrize("secret", ["Xq7-client-secret-canary", "postgresql://u:Xq7-client-secret-canary@127.0.0.1:9/db"])
def test_a_pull_request_naming_another_secret_as_the_connection_string_gets_no_secret_back(tmp_path: Path, secret: str) -> None:
    """The pull request's environment.yaml picks dsn_env; the plan step holds the gateway client's secret."""
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments", root / "environments")
    run = Runner(root)
    run.git("init", "--quiet", "--initial-branch=main")
    run.git("add", ".")
    run.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "environments")
    base = run.git("rev-parse", "HEAD").strip()
    with open(root / "environments" / "dev" / "environment.yaml", "a", encoding="utf-8") as handle:  # the pull request's change
        handle.write("state:\n  backend: postgres\n  dsn_env: GENESYSCLOUD_OAUTHCLIENT_SECRET\n")
    result, _ = run.step("plan.yml", "plan", "Plan", BASE_SHA=base, GENESYSCLOUD_OAUTHCLIENT_SECRET=secret, LLMPLAN_PG_DSN="")
    assert result.returncode == 1
    log = (root / "llmplan.log").read_text(encoding="utf-8")
    report = (root / "plan.md").read_text(encoding="utf-8")  # what the pull-request comment shows
    assert "::error title=llmplan plan::" in result.stdout and "Error: dev: " in log
    assert report.startswith("### llmplan plan · 1 environment · 0 with changes, 0 without, 1 failed\n"), report
    everything = result.stdout + result.stderr + log + report + run.summary.read_text(encoding="utf-8")
    assert "Xq7-client-secret-canary" not in everything
