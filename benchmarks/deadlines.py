"""Deadlines: how long plan, drift and apply take to give up on a gateway that is wrong or down, with default settings.

Run from the repository root (about 2 minutes):

    .venv/bin/python -m benchmarks.deadlines

Three gateways, each named by ``gateway.base_url`` of a throw-away
environment, and the real CLI as a cron job runs it (a child process, no
terminal): a loopback port nobody listens on (refused), a host name that
does not resolve (``.invalid``), and a loopback listener that accepts every
connection and never answers.  Each of ``plan``, ``drift`` and ``apply
--auto-approve`` must exit 1 with an error naming the address and where it
came from, and, for the silent gateway, say on stderr that it is waiting,
within the promised bounds: 10 s for a refused or unresolvable address,
45 s for a silent gateway (the default deadline is 30 s).  Results go to
``benchmarks/results/deadlines.json``.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, finish, llmplan_command, timed  # noqa: E402
from tests.apply.project import model_yaml  # noqa: E402

NAME = "deadlines"
GOALS = {"refused": 10.0, "unresolvable": 10.0, "silent": 45.0}
COMMANDS = (("plan", "--env", "dev"), ("drift", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve"))
SOURCE = "from gateway.base_url in environments/dev/environment.yaml"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def trial(kind: str, url: str, workdir: Path) -> list[dict[str, Any]]:
    project = ApplyProject(workdir / kind, url)
    project.write_model("support-bot", model_yaml("a1b2c3d4-e5f6-7890-abcd-ef1234567890"))
    results = []
    # the gateway allow-list would refuse a host that is neither loopback nor on the region map before any lookup:
    # listed here (as CI lists its own gateways), the name lookup itself is what fails
    host = urlsplit(url).hostname or ""
    environ = cli_environ({**CREDENTIALS, "LLMPLAN_ALLOWED_GATEWAYS": f"{host},login.{host}"})
    for command in COMMANDS:
        done = timed([*llmplan_command(), *command, "--root", str(project.root)], environ=environ, timeout=300)
        said_waiting = "waiting up to " in done.stderr
        error = next((line for line in done.stderr.splitlines() if line.startswith("Error: ")), "")
        results.append({
            "gateway": kind,
            "command": command[0],
            "exit_code": done.code,
            "seconds": round(done.seconds, 1),
            "names_url_and_source": f"{url} ({SOURCE})" in error,
            "said_waiting": said_waiting,
            "error": error[:300],
            "ok": done.code == 1 and done.seconds < GOALS[kind] and f"{url} ({SOURCE})" in error and (said_waiting or kind != "silent"),
        })
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="llmplan-deadlines-") as directory, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel accepts; nobody ever reads or answers
        gateways = {
            "refused": f"http://127.0.0.1:{closed_port()}",
            "unresolvable": "https://llmplan-deadline-check.invalid",
            "silent": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }
        results = [row for kind, url in gateways.items() for row in trial(kind, url, Path(directory))]
    for row in results:
        print(f"  {row['gateway']:13} {row['command']:6} exit {row['exit_code']} in {row['seconds']:5.1f} s (goal < {GOALS[row['gateway']]:g} s){'' if row['ok'] else '  MISS: ' + row['error']}", flush=True)
    worst = {kind: max(row["seconds"] for row in results if row["gateway"] == kind) for kind in GOALS}
    figure = f"refused {worst['refused']:.1f} s, unresolvable {worst['unresolvable']:.1f} s, silent {worst['silent']:.1f} s (slowest of plan, drift, apply), each exit 1 naming the URL and its source"
    goal = "< 10 s, < 10 s, < 45 s, exit 1, a waiting line for the silent one"
    return finish(NAME, figure, goal, all(row["ok"] for row in results), {"gateways": gateways, "results": results, "goals_seconds": GOALS})


if __name__ == "__main__":
    raise SystemExit(main())
