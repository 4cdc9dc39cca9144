"""Fuzz: generated and curated environments through `validate` and `plan`.

Run from the repository root (about 2 minutes for 10,000 environments):

    .venv/bin/python -m benchmarks.fuzz_inputs [--examples 10000] [--workers 2] [--seed 0]

Environments come from the hypothesis strategies of
``tests/foundation/test_properties.py`` (imported, not copied): a model file
that is any of valid, nearly valid, arbitrary YAML, YAML token soup, tagged
odd scalars, text or bytes; a valid configuration put on a model the
sandbox knows (so plans get all the way through); any environment document
or policy schema beside a valid model.  The curated corpus
(``tests/foundation/corpus/``, laid out by ``test_corpus.build_project``)
runs too.  Each environment goes through ``llmplan validate --format json``
and ``llmplan plan`` in-process (``planner.cli.main``, where errors become
exit codes), with ``LLMPLAN_GATEWAY_URL`` pointing every gateway setting at
a sandbox of this run (its own process) and sockets limited to 127.0.0.1.

Checks, for every input: exit 0 or 1; no traceback; exit 1 comes with a
message (JSON problems each with a message, or an ``Error:`` line); input
that ``validate`` refuses is refused by ``plan`` too, before any request
(the sandbox's request log stays empty).  Results go to
``benchmarks/results/fuzz_inputs.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import socket
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import requests
import yaml
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from benchmarks._common import CREDENTIALS, finish, sandbox_process  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402
from tests.foundation.foundation_helpers import run_main  # noqa: E402
from tests.foundation.test_corpus import BAD, VALID, build_project
from tests.foundation.test_properties import documents, schema_like, valid_configs

NAME = "fuzz_inputs"
ENV = "fuzz"
SANDBOX_GENERATED = 8  # generated models on the sandbox: any valid configuration fits them
KNOWN_IDS = [generated_model_id(index) for index in range(1, SANDBOX_GENERATED + 1)]


# --- the environments ----------------------------------------------------------------------


def on_known_model(config: dict[str, Any], model_id: str) -> dict[str, Any]:
    return {**config, "model_id": model_id}


known_model_files = st.builds(on_known_model, valid_configs(), st.sampled_from(KNOWN_IDS)).map(lambda config: yaml.safe_dump(config).encode("utf-8"))
SANDBOX_SETTINGS = b"gateway: {sandbox: true}\n"


@st.composite
def environments(draw: st.DrawFn) -> tuple[str, bytes, dict[str, bytes]]:
    """(kind, environment.yaml, model files by name)."""
    kind = draw(st.sampled_from(("model-file", "model-file", "model-file", "known-models", "settings", "policy")))
    if kind == "model-file":
        return kind, SANDBOX_SETTINGS, {"fuzzed.yaml": draw(documents)}
    if kind == "known-models":
        files = draw(st.lists(known_model_files, min_size=1, max_size=3))
        return kind, SANDBOX_SETTINGS, {f"model-{index}.yaml": raw for index, raw in enumerate(files)}
    model = {"model.yaml": draw(known_model_files)}
    if kind == "settings":
        return kind, yaml.safe_dump(draw(schema_like)).encode("utf-8"), model
    return kind, yaml.safe_dump({"gateway": {"sandbox": True}, "policy": draw(schema_like)}).encode("utf-8"), model


# --- checking one environment ----------------------------------------------------------------


@dataclass
class Tally:
    examples: int = 0
    kinds: Counter = field(default_factory=Counter)
    validate_exits: Counter = field(default_factory=Counter)
    plan_exits: Counter = field(default_factory=Counter)
    invalid: int = 0
    requests_for_invalid: int = 0
    tracebacks: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, what: str, detail: str, sample: Any) -> None:
        if len(self.failures) < 20:
            self.failures.append({"what": what, "detail": detail[:2000], "input": repr(sample)[:2000]})
        else:
            self.failures.append({"what": what})


def clear_message(code: int, stdout: str, stderr: str, *, json_out: bool) -> bool:
    """Exit 1 says what is wrong: JSON problems with messages, or an ``Error: …`` line."""
    if code != 1:
        return True
    if json_out and stdout.strip():
        try:
            problems = json.loads(stdout).get("problems") or []
        except ValueError:
            return False
        if problems and all(isinstance(p, dict) and p.get("message") for p in problems):
            return True
    return any(line.startswith("Error: ") and len(line) > len("Error: ") + 3 for line in stderr.splitlines())


class Checker:
    """Runs validate and plan on the project at ``root`` against one sandbox."""

    def __init__(self, root: Path, url: str, tally: Tally) -> None:
        self.root = root
        self.url = url
        self.tally = tally
        self.environ = {"LLMPLAN_GATEWAY_URL": url, **CREDENTIALS}
        self._log_dirty = True
        self._admin = requests.Session()  # keep-alive: two admin calls per input add up
        self._admin.trust_env = False

    def check(self, kind: str, sample: Any, env: str = ENV) -> None:
        tally = self.tally
        tally.examples += 1
        tally.kinds[kind] += 1
        if self._log_dirty:
            self._admin.delete(f"{self.url}/__sandbox/requests", timeout=10).raise_for_status()
            self._log_dirty = False
        validated = run_main(["validate", "--env", env, "--root", str(self.root), "--format", "json"], env=self.environ)
        planned = run_main(["plan", "--env", env, "--root", str(self.root)], env=self.environ)
        tally.validate_exits[validated.code] += 1
        tally.plan_exits[planned.code] += 1
        for command, run, json_out in (("validate", validated, True), ("plan", planned, False)):
            if "Traceback" in run.stdout + run.stderr:
                tally.tracebacks += 1
                tally.fail(f"{command}: traceback", run.stdout + run.stderr, sample)
            if run.code not in (0, 1):
                tally.fail(f"{command}: exit {run.code}", run.stdout + run.stderr, sample)
            elif not clear_message(run.code, run.stdout, run.stderr, json_out=json_out):
                tally.fail(f"{command}: exit 1 without a clear message", run.stdout + run.stderr, sample)
        if validated.code == 1:
            tally.invalid += 1
            log = self._admin.get(f"{self.url}/__sandbox/requests", timeout=10).json()["requests"]
            if log:
                tally.requests_for_invalid += len(log)
                tally.fail("requests sent for invalid input", json.dumps(log[:5]), sample)
                self._log_dirty = True
            if planned.code != 1:
                tally.fail(f"plan exit {planned.code} for input validate refuses", planned.stdout + planned.stderr, sample)
        else:
            self._log_dirty = True


def write_environment(root: Path, settings: bytes, models: dict[str, bytes]) -> None:
    env_dir = root / "environments" / ENV
    shutil.rmtree(root / "environments", ignore_errors=True)
    (env_dir / "models").mkdir(parents=True)
    (env_dir / "environment.yaml").write_bytes(settings)
    for name, raw in models.items():
        (env_dir / "models" / name).write_bytes(raw)


@contextmanager
def loopback_only() -> Iterator[list[Any]]:
    """Refuse (and remember) any connection that is not to 127.0.0.1 or ::1, in this process, for the block."""
    attempts: list[Any] = []
    original = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1"):
            attempts.append(address)
            raise OSError(f"the fuzz run allows loopback connections only, not {address!r}")
        return original(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


def run_worker(index: int, examples: int, first_seed: int, corpus: bool) -> dict[str, Any]:
    tally = Tally()
    began = time.monotonic()
    with loopback_only() as attempts, sandbox_process("--rate-limit", "100000000", "--models", str(SANDBOX_GENERATED)) as sandbox, tempfile.TemporaryDirectory(prefix="llmplan-fuzz-") as directory:
        root = Path(directory) / "project"
        checker = Checker(root, sandbox.url, tally)
        if corpus:
            for case in [*BAD, *VALID]:
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                build_project(case, root)
                checker.check(f"corpus/{'bad' if case in BAD else 'valid'}", case.source.name, env=case.env)
        corpus_checked = tally.examples

        @seed(first_seed + index)
        @settings(max_examples=examples, database=None, deadline=None, derandomize=False, suppress_health_check=list(HealthCheck))
        @given(environments())
        def fuzz(environment: tuple[str, bytes, dict[str, bytes]]) -> None:
            kind, settings_raw, models = environment
            write_environment(root, settings_raw, models)
            checker.check(kind, environment)

        fuzz()
    return {
        "worker": index,
        "corpus_cases": corpus_checked,
        "generated": tally.examples - corpus_checked,
        "seconds": round(time.monotonic() - began, 1),
        "kinds": dict(tally.kinds),
        "validate_exits": {str(k): v for k, v in tally.validate_exits.items()},
        "plan_exits": {str(k): v for k, v in tally.plan_exits.items()},
        "invalid": tally.invalid,
        "requests_for_invalid": tally.requests_for_invalid,
        "tracebacks": tally.tracebacks,
        "non_loopback_connections": len(attempts),
        "failures": tally.failures,
    }


def _worker(arguments: tuple[int, int, int, bool]) -> dict[str, Any]:
    return run_worker(*arguments)


def fuzz(examples: int, *, workers: int = 2, first_seed: int = 0, corpus: bool = True) -> dict[str, Any]:
    """``examples`` generated environments split over ``workers`` processes, plus the corpus once."""
    shares = [examples // workers + (1 if index < examples % workers else 0) for index in range(workers)]
    jobs = [(index, share, first_seed, corpus and index == 0) for index, share in enumerate(shares)]
    if workers == 1:
        parts = [run_worker(*jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_worker, jobs)
    total: dict[str, Any] = {"workers": parts}
    for key in ("corpus_cases", "generated", "invalid", "requests_for_invalid", "tracebacks", "non_loopback_connections"):
        total[key] = sum(part[key] for part in parts)
    for key in ("kinds", "validate_exits", "plan_exits"):
        merged: Counter = Counter()
        for part in parts:
            merged.update(part[key])
        total[key] = dict(sorted(merged.items()))
    total["failures"] = [failure for part in parts for failure in part["failures"]]
    total["inputs"] = total["corpus_cases"] + total["generated"]
    exits = Counter()
    for part in parts:
        exits.update(part["validate_exits"])
        exits.update(part["plan_exits"])
    total["runs_with_exit_0_or_1"] = exits.get("0", 0) + exits.get("1", 0)
    total["runs"] = sum(exits.values())
    total["ok"] = not total["failures"] and total["tracebacks"] == 0 and total["requests_for_invalid"] == 0 and total["non_loopback_connections"] == 0
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    began = time.monotonic()
    result = fuzz(options.examples, workers=options.workers, first_seed=options.seed)
    result["elapsed_seconds"] = round(time.monotonic() - began, 1)
    share = result["runs_with_exit_0_or_1"] / max(result["runs"], 1)
    print(
        f"fuzz: {result['generated']} generated + {result['corpus_cases']} corpus environments in {result['elapsed_seconds']:.0f} s; "
        f"kinds {result['kinds']}; validate exits {result['validate_exits']}, plan exits {result['plan_exits']}; "
        f"{result['invalid']} invalid, {result['requests_for_invalid']} requests sent for them; {result['tracebacks']} tracebacks; "
        f"{len(result['failures'])} failed checks",
        flush=True,
    )
    for failure in result["failures"][:5]:
        print(f"  {failure['what']}: {failure.get('detail', '')[:300]}\n    input {failure.get('input', '')[:300]}")
    figure = (
        f"{result['inputs']} environments, {share * 100:.1f} % exit 0/1, {result['tracebacks']} tracebacks, "
        f"{result['requests_for_invalid']} requests for {result['invalid']} invalid, {len(result['failures'])} failed checks"
    )
    return finish(NAME, figure, "100 % exit 0/1 with a message, 0 tracebacks, 0 requests for invalid input", result["ok"], result)


if __name__ == "__main__":
    raise SystemExit(main())
