"""The result-line protocol between a compiled check runner and fleet.

The runner prints nothing but these lines on stdout (every check's own output is captured to a
file and travels base64-encoded inside its result line)::

    @@FLEETCHK <nonce> BEGIN <count>
    @@FLEETCHK <nonce> RESULT <index> <id> <state> <exit|-> <bytes> <b64 stdout|-> <b64 stderr|->
    @@FLEETCHK <nonce> END <count>

``nonce`` is random per sweep, chosen at plan time, so text that merely looks like a result line
(a log of an earlier sweep, a check that prints the marker) is never taken for one. ``state`` is
``done``, ``timeout`` or ``error``. A missing ``END`` means the output was cut (or the runner
died): checks with no result line are then errors, never passes.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.redact import mask_tokens
from fleet.sweep.model import RAW_STATES, RawResult
from fleet.types import one_of

__all__ = ["CHECK_ID", "MARKER", "NONCE", "ParsedOutput", "new_nonce", "parse_output", "result_line"]

MARKER = "@@FLEETCHK"
CHECK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NONCE = re.compile(r"^[a-f0-9]{16,64}$")


def new_nonce() -> str:
    """128 random bits, hex: unguessable by a check that does not read the runner itself."""
    return secrets.token_hex(16)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode() if text else "-"


def result_line(nonce: str, index: int, raw: RawResult) -> str:
    """One RESULT line, as the runners print it (used by tests and docs)."""
    code = "-" if raw.exit_code is None else str(raw.exit_code)
    return (f"{MARKER} {nonce} RESULT {index} {raw.check_id} {raw.state} {code} "
            f"{raw.output_bytes} {_b64(raw.output)} {_b64(raw.stderr)}")


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    """What one machine's output said. ``problems`` are human-readable notes about garbled,
    duplicate or foreign lines; ``bad_ids`` are checks whose result line could not be trusted."""

    results: dict[str, RawResult]
    begun: bool
    ended: bool
    problems: tuple[str, ...] = ()
    bad_ids: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return self.begun and self.ended


def _decode(field: str) -> str | None:
    if field == "-":
        return ""
    try:
        text = base64.b64decode(field, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None
    # The engine masked the run's secrets in the raw output; token shapes hide in base64.
    return mask_tokens(text)


def parse_output(text: str, nonce: str, check_ids: Sequence[str]) -> ParsedOutput:
    """Parse a runner's stdout. Lines without the marker are ignored (the agent or the shell may
    add some); marker lines with another nonce are counted and ignored."""
    expected = set(check_ids)
    results: dict[str, RawResult] = {}
    bad: set[str] = set()
    problems: list[str] = []
    begun = ended = False
    foreign = 0
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        # A last line without its newline was cut (output truncated or the runner killed
        # mid-write); even if it parses, its fields may be short.
        lines.pop()
    for line in lines:
        line = line.strip()
        if not line.startswith(MARKER):
            continue
        parts = line.split()
        if len(parts) < 3 or parts[0] != MARKER or parts[1] != nonce:
            foreign += 1
            continue
        kind = parts[2]
        if kind == "BEGIN" and len(parts) == 4:
            begun = True
            continue
        if kind == "END" and len(parts) == 4:
            ended = True
            continue
        if kind != "RESULT" or len(parts) != 10:
            problems.append(f"garbled result line: {line[:80]!r}")
            continue
        _, _, _, _index, check_id, state, code, size, out64, err64 = parts
        if check_id not in expected:
            problems.append(f"result for unknown check {check_id[:64]!r}")
            continue
        if check_id in results or check_id in bad:
            problems.append(f"two result lines for check {check_id!r}")
            results.pop(check_id, None)
            bad.add(check_id)
            continue
        output, stderr = _decode(out64), _decode(err64)
        raw_state = one_of(RAW_STATES, state)
        valid = (raw_state is not None and (code == "-" or re.fullmatch(r"-?\d{1,10}", code))
                 and size.isdigit() and output is not None and stderr is not None)
        if not valid or raw_state is None or output is None or stderr is None:
            problems.append(f"garbled result line for check {check_id!r}")
            bad.add(check_id)
            continue
        results[check_id] = RawResult(check_id, raw_state, None if code == "-" else int(code),
                                      output, int(size), stderr)
    if foreign:
        problems.append(f"ignored {foreign} line(s) that look like result lines but carry "
                        "another nonce")
    return ParsedOutput(results, begun, ended, tuple(problems), frozenset(bad))
