"""What every benchmark and reliability run shares: the sandbox in its own
process, throw-away projects, the machine description, the summary line and
the results file.

The sandbox runs as ``python -m planner sandbox serve --port 0 …`` in a
separate process, so the measured client never shares an interpreter lock
with the server.  Projects, the admin endpoints and the CLI child process
come from the test helpers (``tests/apply/project.py``, built on
``tests/plan/e2e_project.py``): one implementation for tests and benchmarks.

Every script ends with one line ``<name>: <figure> (goal <goal>; load L)
PASS|MISS`` (L: the machine's 1-minute load average as it ended, for a
figure measured on a shared machine) and writes
``benchmarks/results/<name>.json`` (ignored by Git).  The speed benchmarks
time whole ``llmplan`` processes against a bound computed from what cannot
be avoided: the command's measured start-up (:func:`llmplan_startup`), the
files read with libyaml's loader (:func:`yaml_floor`), and the gateway's
round trips and rate limit; each prints figure, bound and ratio
(:func:`ratio_line`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import selectors
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"

from tests.apply.project import CREDENTIALS, ApplyProject, SandboxAdmin, address, expected_payload, model_yaml  # noqa: E402

__all__ = [
    "CREDENTIALS",
    "ROOT",
    "ApplyProject",
    "SandboxAdmin",
    "SandboxProcess",
    "address",
    "cli_environ",
    "configure_live",
    "finish",
    "llmplan_startup",
    "machine",
    "measured",
    "model_yaml",
    "parse_time",
    "ratio_line",
    "sandbox_process",
    "storm_arguments",
    "timed",
    "yaml_floor",
    "yaml_load_seconds",
]


def configure_live(url: str, models: int) -> None:
    """Generated models 1 … ``models`` on the sandbox, each configured as
    ``model_yaml``'s defaults say (max_tokens 1024), through the admin API
    (not counted in the rate budget)."""
    import requests

    from planner.model.catalog import generated_model_id

    for first in range(1, models + 1, 1000):  # the sandbox refuses a request body over a few MB
        seeded = [
            {
                "id": generated_model_id(index),
                "name": f"bench-{index:05d}",
                "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []},
                "configuration": expected_payload(generated_model_id(index)),
            }
            for index in range(first, min(first + 1000, models + 1))
        ]
        requests.post(f"{url}/__sandbox/models", json={"models": seeded}, timeout=60).raise_for_status()


@dataclass(frozen=True)
class SandboxProcess:
    """A running ``llmplan sandbox serve`` child: its URL and admin endpoints."""

    url: str
    process: subprocess.Popen[str]

    @property
    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.url)


@contextmanager
def sandbox_process(*options: str, environ: Mapping[str, str] | None = None, ready_timeout: float = 60.0) -> Iterator[SandboxProcess]:
    """``python -m planner sandbox serve --port 0 OPTIONS`` until the block ends.

    ``environ`` adds variables (e.g. ``LLMPLAN_SANDBOX_CLIENT_SECRET``, which
    keeps a secret off the command line).  Waits (bounded) for its
    ``listening on http://HOST:PORT`` line; stopped with SIGTERM, killed if
    it does not stop within 10 s.
    """
    command = [sys.executable, "-m", "planner", "sandbox", "serve", "--port", "0", *options]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_environ(environ))
    try:
        assert process.stdout is not None
        url = None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + ready_timeout
            while url is None and selector.select(timeout=max(deadline - time.monotonic(), 0)):
                line = process.stdout.readline()
                if not line:
                    break
                found = re.search(r"listening on (http://\S+)", line)
                url = found.group(1) if found else None
        if url is None:
            raise SystemExit(f"the sandbox ({' '.join(command[3:])}) did not print 'listening on http://HOST:PORT' within {ready_timeout:g} s")
        yield SandboxProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def storm_arguments(doc: str) -> argparse.Namespace:
    """``--models``, ``--retry-after`` and ``--seed``, as the storms take them."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the injected 429s, in seconds (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def cli_environ(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment without llmplan's and Genesys's variables, plus ``extra``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("LLMPLAN_", "GENESYSCLOUD_")) and key != "NO_COLOR"}
    for key, value in (extra or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


@dataclass(frozen=True)
class Timed:
    code: int
    stdout: str
    stderr: str
    started: float  # wall clock (time.time()), comparable with the sandbox's request log
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def timed(argv: Sequence[str], *, environ: Mapping[str, str] | None = None, timeout: float = 600.0) -> Timed:
    """Run ``argv`` to completion (stdin closed), timed with the wall clock."""
    started = time.time()
    done = subprocess.run(list(argv), env=dict(environ) if environ is not None else None, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)
    ended = time.time()
    return Timed(done.returncode, done.stdout, done.stderr, started, ended)


@dataclass(frozen=True)
class Measured(Timed):
    """A child process timed, with what the kernel says it used."""

    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0


def measured(argv: Sequence[str], *, environ: Mapping[str, str] | None = None, timeout: float = 600.0) -> Measured:
    """:func:`timed`, plus the child's own CPU time and peak RSS (``wait4``: that child alone, not its siblings)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.time()
        process = subprocess.Popen(list(argv), env=dict(environ) if environ is not None else None, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        ended = time.time()
        process.returncode = os.waitstatus_to_exitcode(status)
        if ended - started >= timeout:
            raise subprocess.TimeoutExpired(list(argv), timeout)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    return Measured(process.returncode, stdout, stderr, started, ended, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


# How many timed runs make the start-up's median: the tests of the scripts set
# fewer (their figures are not compared with anything).
STARTUP_RUNS = int(os.environ.get("LLMPLAN_BENCH_STARTUP_RUNS", "7"))


def llmplan_startup(command: str, runs: int = STARTUP_RUNS) -> float:
    """Measured start-up of a command: the median wall time of ``llmplan COMMAND --help``
    (a process started and the command's modules imported, the HTTP client among
    them where the command talks to a gateway; nothing read, nothing sent), after
    one warm-up run. What every bound adds."""
    argv = [*llmplan_command(), *command.split(), "--help"]
    timed(argv, environ=cli_environ(), timeout=60)
    return median([timed(argv, environ=cli_environ(), timeout=60).seconds for _ in range(runs)])


# Reads and loads every YAML file of an environment with PyYAML's C loader: argv = the environment folder.
_FLOOR_CHILD = r"""
import os, sys, time
import yaml
folder = sys.argv[1]
models = os.path.join(folder, "models")
files = [os.path.join(folder, "environment.yaml")] + [os.path.join(models, name) for name in sorted(os.listdir(models)) if name.endswith((".yaml", ".yml"))]
started = time.perf_counter()
for path in files:
    with open(path, "rb") as handle:
        yaml.load(handle.read(), Loader=yaml.CSafeLoader)
print(len(files), time.perf_counter() - started)
"""


@dataclass(frozen=True)
class YamlFloor:
    """The least a command that reads an environment can take: llmplan's start-up and the files loaded by libyaml."""

    files: int
    startup_seconds: float  # llmplan COMMAND --help, median
    load_seconds: float  # read + yaml.load(CSafeLoader) of every file, the loop alone, median of the runs

    @property
    def seconds(self) -> float:
        return self.startup_seconds + self.load_seconds

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "startup_seconds": round(self.startup_seconds, 3), "load_seconds": round(self.load_seconds, 3), "seconds": round(self.seconds, 3)}


def yaml_load_seconds(environment_dir: Path) -> float:
    """Seconds to read and ``yaml.load`` with libyaml's safe loader every YAML file of an
    environment folder (``environment.yaml`` and ``models/``), in a fresh process, the loop alone."""
    done = timed([sys.executable, "-c", _FLOOR_CHILD, str(environment_dir)], timeout=600)
    if done.code != 0:
        raise SystemExit(f"the CSafeLoader floor could not be measured:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[1])


def yaml_floor(environment_dir: Path, command: str, *, runs: int = 3, loads: Sequence[float] = ()) -> YamlFloor:
    """The CSafeLoader floor of an environment folder for ``command``: its measured
    start-up (:func:`llmplan_startup`) plus the median of ``runs``
    :func:`yaml_load_seconds` (or of the ``loads`` a script measured between its
    own runs, so that both saw the same machine)."""
    samples = list(loads) or [yaml_load_seconds(environment_dir) for _ in range(runs)]
    files = 1 + sum(1 for path in (environment_dir / "models").iterdir() if path.suffix in (".yaml", ".yml"))
    return YamlFloor(files, llmplan_startup(command), median(samples))


def ratio_line(seconds: float, bound: float, what: str) -> str:
    """``7.12 s = 1.39 x the bound 5.12 s (what)``: a figure beside its bound."""
    return f"{seconds:.2f} s = {seconds / bound:.2f} x the bound {bound:.2f} s ({what})"


def llmplan_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "llmplan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "planner"]


def parse_time(stamp: str) -> float:
    """The sandbox's ``2026-11-24T10:00:00.000Z`` as seconds since the epoch."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(), "platform": platform.platform()}


def finish(name: str, figure: str, goal: str, ok: bool, results: Mapping[str, Any], *, output: Path | None = None) -> int:
    """Write ``benchmarks/results/<name>.json`` (or ``output``) and print the summary line; the exit code."""
    load = os.getloadavg()[0]  # the machine is shared: a figure is read beside the load it was measured under
    document = {
        "benchmark": name,
        "summary": f"{figure} (goal {goal}; load {load:.1f})",
        "ok": ok,
        **results,
        "machine": machine(),
        "load_average_1min": round(load, 2),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = output or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"{name}: {figure} (goal {goal}; load {load:.1f}) {'PASS' if ok else 'MISS'}", flush=True)
    return 0 if ok else 1
