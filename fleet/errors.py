"""Every error fleet raises on purpose, in one tree.

    FleetError                      root; ``exit_code`` says what the CLI exits with
    ├── UsageError                  bad command line or option combination (exit 2)
    ├── InputError                  bad input file: names file, line and field (exit 2)
    │   ├── InventoryError          inventory file, group_vars/host_vars, selection patterns
    │   ├── PlaybookError           playbook keys, types, durations, waves, success criteria
    │   ├── TemplateError           Jinja syntax, undefined variables, sandbox violations
    │   ├── SelectionError          a pattern that selects no machine
    │   └── SecretError             a secret reference that cannot be resolved or is misused
    ├── RunFolderError              a run folder that is missing, locked, unreadable or too new (exit 2)
    ├── RunStoppedError             the run folder could not be written (disk full, permissions): the
    │                               run stopped, its journal intact, resumable (exit 130)
    ├── RemoteError                 something outside fleet answered badly
    │   ├── ArmError                ARM answered with an error body (status, code, message)
    │   │   ├── NotFoundError       404 ResourceNotFound and friends
    │   │   ├── AuthError           401/403, or a token could not be had
    │   │   ├── ThrottledError      429 that exhausted the retry budget
    │   │   └── OutcomeUnknownError ARM acknowledged a PUT fleet cannot read, and the run command
    │   │                           is gone: it may have run (never re-sent on its own)
    │   ├── TransportError          connection reset, timeout, TLS failure (no HTTP answer)
    │   └── StorageError            blob storage failed (SAS, upload, download)
    ├── RunWideError                a cause that concerns the whole run (ARM or storage unreachable or
    │                               refusing, TLS, an unresolvable secret): found before anything
    │                               was sent, one line with the fix (exit 9)
    ├── InsecureEndpointError       a bearer token would go over plain HTTP to a non-loopback host
    └── SimulatorError              the simulator could not start or was misconfigured

A failed *machine* is never an exception: it is a result (see ``fleet.types.JobResult``).
Library exceptions are translated at the boundary with ``raise ... from``.
Messages never contain secrets, tokens or SAS signatures: callers redact before raising.
"""

from __future__ import annotations

__all__ = [
    "ArmError",
    "AuthError",
    "FleetError",
    "InputError",
    "InsecureEndpointError",
    "InventoryError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PlaybookError",
    "RemoteError",
    "RunFolderError",
    "RunStoppedError",
    "RunWideError",
    "SecretError",
    "SelectionError",
    "SimulatorError",
    "StorageError",
    "TemplateError",
    "ThrottledError",
    "TransportError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_HALTED = 3
EXIT_UNREACHABLE = 4
EXIT_RUNWIDE = 9
EXIT_INTERRUPTED = 130


class FleetError(Exception):
    """Root of every error fleet raises on purpose."""

    exit_code: int = EXIT_FAILED

    def one_line(self) -> str:
        """The message the CLI prints: one line, no traceback."""
        return " ".join(str(self).split())


class UsageError(FleetError):
    exit_code = EXIT_INPUT


class InputError(FleetError):
    """Bad input. ``str()`` reads ``FILE:LINE: FIELD: message`` with whatever parts are known."""

    exit_code = EXIT_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        text = ": ".join([*parts, self.message])
        if self.hint:
            text += f" ({self.hint})"
        return text


class InventoryError(InputError):
    pass


class PlaybookError(InputError):
    pass


class TemplateError(InputError):
    pass


class SelectionError(InputError):
    pass


class SecretError(InputError):
    pass


class RunFolderError(FleetError):
    exit_code = EXIT_INPUT


class RunStoppedError(FleetError):
    """The run cannot go on writing its run folder; it stopped and can be resumed."""

    exit_code = EXIT_INTERRUPTED


class RunWideError(FleetError):
    """A run-wide cause (ARM, TLS, credential, storage, secrets): nothing was sent."""

    exit_code = EXIT_RUNWIDE


class RemoteError(FleetError):
    pass


class ArmError(RemoteError):
    """ARM answered with an error. ``code`` is ARM's error code, ``status`` the HTTP status."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        prefix = " ".join(p for p in (str(status) if status else "", code or "") if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class NotFoundError(ArmError):
    pass


class AuthError(ArmError):
    pass


class OutcomeUnknownError(ArmError):
    """A write whose outcome nothing can tell: ARM acknowledged it (2xx) with an answer fleet
    cannot interpret, and the resource is gone. It may have run: never send it again on its own."""


class ThrottledError(ArmError):
    pass


class TransportError(RemoteError):
    pass


class StorageError(RemoteError):
    pass


class InsecureEndpointError(FleetError):
    exit_code = EXIT_INPUT


class SimulatorError(FleetError):
    exit_code = EXIT_INPUT
