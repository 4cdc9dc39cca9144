"""The one exception hierarchy of llmplan.

Every failure a user can expect (bad YAML, a refused plan, a gateway that is
down) is a subclass of :class:`LlmplanError`.  The CLI turns these into a
message and an exit code in exactly one place (``planner.cli.main``); anything
else is a bug and keeps its traceback.

Exit codes follow Terraform's ``-detailed-exitcode``: 0 success, 1 error,
2 "changes (or drift) present".  2 is a *result*, never an exception, so every
class here maps to 1; the attribute exists so that a future code is added in
one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from planner.model.printable import printable

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
EXIT_TERMINATED = 143  # SIGTERM (a CI cancel), as shells report it


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the user's input, pointing at where it is.

    ``file`` is a display path (relative to the project root when possible),
    ``line`` is 1-based or ``None`` when the problem has no single line (a
    missing file, a duplicate across files), ``path`` is the JSON path of the
    offending field (``safety_filters[1].threshold``) or ``""``. ``column``
    (1-based) is given where it helps find the spot: YAML syntax errors and
    values YAML read otherwise than they look (a tab, ``yes``, ``1e3``).
    """

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        """One line, whatever the file name, field or message holds (control characters escaped)."""
        file, path, message = printable(self.file), printable(self.path), printable(self.message)
        where = file if self.line is None else f"{file}:{self.line}" if self.column is None else f"{file}:{self.line}:{self.column}"
        return f"{where} {path}: {message}" if path else f"{where}: {message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "path": self.path, "message": self.message}


class LlmplanError(Exception):
    """Root of every expected failure; ``str()`` is what the user reads."""

    exit_code: int = EXIT_ERROR
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


# --- user input -----------------------------------------------------------


class ConfigurationError(LlmplanError):
    """The project, an environment or the process environment is unusable."""


class EnvironmentNotFound(ConfigurationError):
    """``environments_dir`` is the folder searched, as an absolute path: from a
    subfolder or with the wrong --root, the user sees where llmplan looked."""

    def __init__(self, name: str, available: Sequence[str], environments_dir: str, *, exists: bool = True) -> None:
        if exists:
            listing = ", ".join(available) if available else "none"
            message = f"environment {name!r} not found in {environments_dir} (available: {listing})"
            hint = "pass --env with one of the available names, or --root pointing at the project"
        else:
            message = f"environment {name!r} not found: there is no {environments_dir} folder"
            hint = "run llmplan in the project folder (the one holding environments/) or any folder below it, or pass --root (or set LLMPLAN_ROOT)"
        super().__init__(message, hint=hint)
        self.name = name
        self.available = tuple(available)


class CredentialsMissing(ConfigurationError):
    def __init__(self, variable: str) -> None:
        super().__init__(
            f"environment variable {variable} is not set",
            hint="export the OAuth client credentials of the gateway "
            "(GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET)",
        )
        self.variable = variable


class ValidationFailed(LlmplanError):
    """Input is wrong in one or more places; carries every problem at once."""

    def __init__(self, problems: Iterable[Problem], what: str = "validation failed") -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=_problem_order))
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{what}: {count} problem{'s' if count != 1 else ''}\n{lines}")


def _problem_order(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.line or 0, problem.path, problem.message)


# --- the gateway ----------------------------------------------------------


class GatewayError(LlmplanError):
    """The gateway answered with an error, or could not be reached.

    Carries what the Genesys Cloud error body says so a user can quote the
    ``contextId`` to support.  Never carries a token or a secret.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        method: str | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.context_id = context_id
        self.errors = tuple(errors)
        self.method = method
        self.url = url


class AuthenticationFailed(GatewayError):
    hint = "check GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET and the client's scopes"


class PermissionDenied(GatewayError):
    hint = "grant the OAuth client the scope named above (ai:llm:manage, ai:models:read)"


class NotFound(GatewayError):
    pass


class BadRequest(GatewayError):
    pass


class VersionConflict(GatewayError):
    hint = "the configuration changed since it was planned; run plan again"


class RateLimited(GatewayError):
    hint = "the gateway's rate limit was exceeded for longer than the retry budget; retry later or lower --parallelism"


class GatewayUnavailable(GatewayError):
    hint = "the gateway is down or unreachable; retry later"


class CircuitOpen(GatewayUnavailable):
    """Refused without sending: the circuit breaker is open, so the request certainly did not reach the gateway."""


class OutcomeUnknown(GatewayError):
    """A write whose answer was lost and could not be resolved by reading back:
    it may or may not have landed. Never a failure: the next command that reads
    the live configuration settles it (``RecordsSession.settle``)."""

    hint = "run apply again once the gateway answers: it reads the configuration back and records what really happened"


class Cancelled(GatewayError):
    """An exchange or a wait ended by a cancellation (planner.adapters.waiting.Cancellation) (the command is being interrupted).

    ``sent``: the request may have reached the peer (a PUT's outcome is then
    unknown, for the next run to settle).  Never a failure of the gateway.
    """

    def __init__(self, message: str, *, sent: bool = False, method: str | None = None, url: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, method=method, url=url, hint=hint)
        self.sent = sent


class InvalidModelId(GatewayError):
    """A model id that is not a UUID; refused before it enters a URL, nothing was sent."""

    hint = "model ids are UUIDs like a1b2c3d4-e5f6-7890-abcd-ef1234567890"


class InsecureGatewayURL(ConfigurationError):
    pass


class DestinationNotAllowed(ConfigurationError):
    """A host that may not receive llmplan's requests (credentials, events); refused before anything is sent.

    ``setting`` names the environment.yaml field that led there (``gateway.base_url``), when one did.
    """

    def __init__(self, message: str, *, hint: str | None = None, setting: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.setting = setting


# --- plans, state, apply --------------------------------------------------


class PlanFileError(LlmplanError):
    """A saved plan cannot be read or was altered since it was written."""


class StalePlan(LlmplanError):
    hint = "run plan again and review the new plan"


class PlanAlreadyApplied(StalePlan):
    """A saved plan the audit trail shows was applied (wholly or in part) already: a plan is applied once."""


class SafetyThresholdExceeded(LlmplanError):
    pass


class WeakeningRefused(LlmplanError):
    """The plan weakens a model's safety and the environment refuses that without --allow-weakening."""


class StateError(LlmplanError):
    """The state file is unreadable, of another lineage, or newer than us."""


class RecordsUnavailable(StateError):
    """The backend holding the records (a database) cannot be reached, or went away mid-command.

    Its message names the host and port, never the connection string's password.
    """

    hint = "check that the database is up and reachable; nothing more was recorded, and the next run settles what this one left open"


class LockHeld(StateError):
    def __init__(self, message: str, holder: dict[str, Any] | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder or {}


class LockLost(StateError):
    """The lock this command held was lost (its database session ended, its lock file was removed)
    or taken over by another holder: the records refuse this holder's writes from then on (fencing)."""

    hint = "nothing more is sent; the changes that landed are settled by the next apply. Check who holds the lock now and why this one was lost"


class RecordsMismatch(StateError):
    """The records found belong to another environment (copied, moved or linked), or the backend
    environment.yaml names holds nothing while the other backend holds this environment's records."""


class AuditError(LlmplanError):
    """The audit trail does not verify."""


class ApplyFailed(LlmplanError):
    """Some changes failed; the others were applied and recorded."""


class Aborted(LlmplanError):
    """The user declined, or confirmation was impossible."""


class TerminationRequested(KeyboardInterrupt):
    """SIGTERM (a CI cancel), raised in the main thread and handled exactly like
    the first Ctrl-C: requests in flight finish and are recorded, state is
    committed, the lock released; exit 143. A KeyboardInterrupt, not an
    LlmplanError, so no ``except Exception`` on the way swallows it."""

    exit_code = EXIT_TERMINATED
