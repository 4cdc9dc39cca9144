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
    # the progress line and the error both show it apart, on a line of its own
    assert "\n      missing scope: ai:llm:manage\n" in done.stderr, str(done)
    assert "\n  missing scope: ai:llm:manage\nHint: nothing was applied; fix the cause and run `llmplan apply --env dev` again to finish" in done.stderr, str(done)
    assert done.stderr.count("missing scope: ai:llm:manage") == 2
    assert "Nothing was applied. Once the cause is fixed: `llmplan apply --env dev`." in done.stdout
    assert "Partly applied" not in done.stdout and "successful changes" not in done.stderr  # nothing landed: never said otherwise
    assert admin.puts(status=200) == []
