"""Start-up: wall time of ``llmplan --version`` and ``llmplan --help``.

Run from the repository root (a few seconds):

    .venv/bin/python -m benchmarks.startup [--runs 10]

Each command runs as a fresh process of the installed console script (what
a user or a CI step pays before llmplan does anything); the figure is the
median of ``--runs`` runs after one warm-up run (the OS file cache).  Goal:
< 0.25 s each, which needs heavy modules (requests, jsonschema, deepdiff,
the sandbox) imported only by the commands that use them.
"""

from __future__ import annotations

import argparse

from benchmarks._common import cli_environ, finish, llmplan_command, median, timed  # noqa: E402

NAME = "startup"
GOAL_SECONDS = 0.25


def measure(arguments: list[str], runs: int) -> dict:
    command = [*llmplan_command(), *arguments]
    environ = cli_environ()
    warm = timed(command, environ=environ, timeout=60)
    if warm.code != 0:
        raise SystemExit(f"{' '.join(command)} exited {warm.code}:\n{warm.stderr}")
    seconds = [timed(command, environ=environ, timeout=60).seconds for _ in range(runs)]
    return {"command": " ".join(["llmplan", *arguments]), "median_seconds": round(median(seconds), 4), "runs_seconds": [round(value, 4) for value in seconds]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    version = measure(["--version"], options.runs)
    help_ = measure(["--help"], options.runs)
    for result in (version, help_):
        print(f"{result['command']}: median {result['median_seconds']:.3f} s of {options.runs} runs (min {min(result['runs_seconds']):.3f}, max {max(result['runs_seconds']):.3f})", flush=True)
    ok = version["median_seconds"] < GOAL_SECONDS and help_["median_seconds"] < GOAL_SECONDS
    slowest = max(version["median_seconds"], help_["median_seconds"])
    figure = f"--version {version['median_seconds']:.3f} s, --help {help_['median_seconds']:.3f} s (median of {options.runs}) = {slowest / GOAL_SECONDS:.2f} x the bound (the {GOAL_SECONDS} s goal)"
    return finish(NAME, figure, f"< {GOAL_SECONDS} s each", ok, {"runs": options.runs, "version": version, "help": help_})


if __name__ == "__main__":
    raise SystemExit(main())
