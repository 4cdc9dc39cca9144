"""An apply refused for a missing OAuth scope names that scope on a line of its own,
where a reader of a CI log finds it, and says how to get it."""

from __future__ import annotations

from tests.apply.project import ApplyProject, SandboxAdmin

READ_ONLY = {"GENESYSCLOUD_OAUTHCLIENT_ID": "sandbox-readonly", "GENESYSCLOUD_OAUTHCLIENT_SECRET": "sandbox-readonly-secret"}


def test_an_apply_without_the_manage_scope_names_it_on_its_own_line(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(1)
    done = project.run("apply", "--env", "dev", "--auto-approve", env=READ_ONLY)  # this client may read, not write
    assert done.code == 1, str(done)
    assert "lacks the scope ai:llm:manage needed for PUT /api/v2/ai/models/" in done.stderr
    assert "\n  missing scope: ai:llm:manage" in done.stderr, str(done)  # the progress line and the error both show it apart
    assert done.stderr.count("missing scope: ai:llm:manage") == 2
    assert admin.puts(status=200) == []
