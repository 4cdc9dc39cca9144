"""The gateway allow-list, through the real CLI: the credentials go only to the
region map, loopback and the hosts of LLMPLAN_ALLOWED_GATEWAYS; anything else
is refused before a single connection, link-local and metadata addresses even
when listed; the webhook URL gets the same address rules.

The gateway under test is the sandbox behind an HTTPS front at 0.0.0.0
(tls_front.py): not loopback, not on the region map, so only the list lets
llmplan talk to it, and the front counts every connection it is offered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from tests.plan.e2e_project import THREE_MODELS, Admin, Project
from tests.plan.tls_front import TlsFront, make_certificate

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox

NO_PROXY = {"HTTPS_PROXY": None, "https_proxy": None, "HTTP_PROXY": None, "http_proxy": None, "NO_PROXY": "*"}
METADATA_URLS = [
    "https://169.254.169.254",
    "https://2852039166",  # 169.254.169.254 as one number
    "https://0xa9.0xfe.0xa9.0xfe",
    "https://169.254.169.254.",
    "https://[::ffff:169.254.169.254]",
    "https://[fd00:ec2::254]",
    "https://metadata.google.internal",
]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def front(sandbox: "RunningSandbox", certificate: tuple[Path, Path]) -> Iterator[TlsFront]:
    running = TlsFront(int(sandbox.url.rsplit(":", 1)[1]), *certificate)
    yield running
    running.stop()


@pytest.fixture
def behind_front(project: Project, front: TlsFront) -> Project:
    project.write_models(THREE_MODELS)
    project.write_environment(gateway=f"base_url: {front.url}")
    return project


def environ(certificate: tuple[Path, Path], allowed: str | None) -> dict[str, str | None]:
    return {"LLMPLAN_ALLOWED_GATEWAYS": allowed, "REQUESTS_CA_BUNDLE": str(certificate[0]), **NO_PROXY}


def test_a_listed_gateway_is_planned_over_https(behind_front: Project, front: TlsFront, admin: Admin, certificate: tuple[Path, Path]) -> None:
    run = behind_front.run("plan", "--env", "dev", env=environ(certificate, "0.0.0.0"))
    assert run.code == 0, str(run)
    assert "Plan: 3 to create" in run.stdout
    assert front.connections >= 1  # the list let llmplan through, and the front carried it
    assert any(entry["path"] == "/oauth/token" for entry in admin.requests())


@pytest.mark.parametrize("allowed", [None, "", "gw.example.com, 127.0.0.1"])
def test_an_unlisted_gateway_is_refused_before_any_connection(
    behind_front: Project, front: TlsFront, admin: Admin, certificate: tuple[Path, Path], allowed: str | None
) -> None:
    for command in (["plan", "--env", "dev"], ["drift", "--env", "dev"], ["apply", "--env", "dev", "--auto-approve"], ["refresh", "--env", "dev"]):
        run = behind_front.run(*command, env=environ(certificate, allowed))
        assert run.code == 1, str(run)  # drift too: an error, never "drift present"
        assert "Error: gateway base_url host 0.0.0.0 is not allowed" in run.stderr
        assert "$LLMPLAN_ALLOWED_GATEWAYS (which " in run.stderr
        assert "Hint: if 0.0.0.0 is your gateway, add it to LLMPLAN_ALLOWED_GATEWAYS" in run.stderr
        assert "sandbox-secret" not in run.stdout + run.stderr
    assert front.connections == 0
    assert admin.requests() == []
    assert not (behind_front.state_dir / "state.json").exists()


def test_the_pull_request_comment_says_why(behind_front: Project, front: TlsFront, certificate: tuple[Path, Path]) -> None:
    run = behind_front.run("plan", "--env", "dev", "--format", "markdown", "--out", str(behind_front.root / "plan.json"), env=environ(certificate, None))
    assert run.code == 1
    assert run.stdout.startswith("### llmplan plan · `dev` · failed")
    assert "gateway base_url host 0.0.0.0 is not allowed" in run.stdout
    assert "LLMPLAN_ALLOWED_GATEWAYS" in run.stdout
    assert not (behind_front.root / "plan.json").exists()
    assert front.connections == 0


def test_a_login_url_elsewhere_is_refused_even_when_the_api_is_listed(behind_front: Project, front: TlsFront, certificate: tuple[Path, Path]) -> None:
    behind_front.write_environment(gateway=f"base_url: {front.url}\n  login_url: https://collector.example.net")
    run = behind_front.run("plan", "--env", "dev", env=environ(certificate, "0.0.0.0"))
    assert run.code == 1
    assert "gateway login_url host collector.example.net is not allowed" in run.stderr
    assert "(which lists 0.0.0.0)" in run.stderr
    assert front.connections == 0


@pytest.mark.parametrize("url", METADATA_URLS)
def test_a_metadata_address_is_not_allowed_even_when_listed(project: Project, admin: Admin, url: str) -> None:
    project.write_models(THREE_MODELS)
    project.write_environment(gateway=f"base_url: {url}")
    listed = "169.254.169.254,2852039166,0xa9.0xfe.0xa9.0xfe,::ffff:169.254.169.254,fd00:ec2::254,metadata.google.internal"
    for command in ("validate", "plan"):
        run = project.run(command, "--env", "dev", env={"LLMPLAN_ALLOWED_GATEWAYS": listed})
        assert run.code == 1, str(run)
        assert "gateway.base_url: host " in run.stderr and " is not allowed: it is " in run.stderr
        assert "link-local" in run.stderr or "metadata" in run.stderr
    assert admin.requests() == []


def test_llmplan_gateway_url_is_set_outside_the_repository_and_stays_trusted(project: Project, sandbox: "RunningSandbox") -> None:
    project.write_models(THREE_MODELS)
    project.write_environment(gateway="base_url: https://collector.example.net")
    run = project.run("plan", "--env", "dev", env={"LLMPLAN_GATEWAY_URL": sandbox.url})
    assert run.code == 0, str(run)
    assert "Plan: 3 to create" in run.stdout
    checked = project.run("validate", "--env", "dev", env={"LLMPLAN_GATEWAY_URL": sandbox.url})
    assert "Warning" not in checked.stderr


def test_validate_warns_offline_about_a_gateway_plan_would_refuse(behind_front: Project, front: TlsFront, certificate: tuple[Path, Path]) -> None:
    run = behind_front.run("validate", "--env", "dev", env=environ(certificate, None))
    assert run.code == 0, str(run)
    assert run.stderr.startswith("Warning: environments/dev/environment.yaml:2 gateway.base_url: gateway base_url host 0.0.0.0 is not allowed")
    assert "plan, apply and drift will refuse it" in run.stderr
    as_json = behind_front.run("validate", "--env", "dev", "--format", "json", env=environ(certificate, "bad entry"))
    assert as_json.code == 0
    [warning] = json.loads(as_json.stdout)["warnings"]
    assert warning["line"] == 2 and warning["path"] == "gateway.base_url"
    assert "LLMPLAN_ALLOWED_GATEWAYS holds 'bad entry', which is not a host name" in warning["message"]
    listed = behind_front.run("validate", "--env", "dev", env=environ(certificate, "0.0.0.0"))
    assert listed.code == 0 and listed.stderr == ""
    assert front.connections == 0  # validate never connects


@pytest.mark.parametrize(
    ("webhook", "said"),
    [
        ("https://alice:hunter2@governance.example.com/hook", "governance.webhook_url: must not contain credentials"),
        ("https://[fd00:ec2::254]/hook", "governance.webhook_url: host fd00:ec2::254 is not allowed: it is a cloud metadata address"),
        ("https://2852039166/hook", "governance.webhook_url: host 2852039166 (169.254.169.254) is not allowed: it is a link-local address"),
    ],
)
def test_a_webhook_with_credentials_or_at_a_metadata_address_is_refused(project: Project, admin: Admin, webhook: str, said: str) -> None:
    project.write_models(THREE_MODELS)
    (project.env_dir / "environment.yaml").write_text(f"gateway:\n  base_url: {project.gateway_url}\ngovernance:\n  webhook_url: '{webhook}'\n", encoding="utf-8")
    for command in (["validate", "--env", "dev"], ["validate", "--env", "dev", "--format", "json"], ["apply", "--env", "dev", "--auto-approve"]):
        run = project.run(*command)
        assert run.code == 1, str(run)
        assert said in run.stderr
        assert "hunter2" not in run.stdout + run.stderr
    assert admin.requests() == []
