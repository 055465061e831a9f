"""The one exception family a user sees: what failed, where, what to do, and the log."""

from __future__ import annotations

from pathlib import Path


class Torch2TFError(Exception):
    """A failure with a cause a user can act on.

    `where` names the stage / env / file, `hint` what to do, `log` the log to read.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None,
                 log: Path | str | None = None, error_class: str | None = None,
                 stage: str | None = None, env: str | None = None, cause: str | None = None,
                 route_independent: bool = False):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.log = str(log) if log else None
        self.error_class = error_class    # a catalogue class or the stage's own kind, when known
        self.stage = stage                # the pipeline step that failed, and its env
        self.env = env
        self.cause = cause or first_line(message)   # the failing program's own first line, for summaries
        self.route_independent = route_independent   # declared by the stage: every route would fail alike

    def as_dict(self) -> dict:
        """The error as report.json and artifacts/batch.json record it."""
        return {"class": self.error_class or type(self).__name__, "message": self.message, "where": self.where,
                "hint": self.hint, "log": self.log, "cause": self.cause, "route_independent": self.route_independent}

    def __str__(self) -> str:
        lines = [self.message]
        if self.where:
            lines.append(f"  where: {self.where}")
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        if self.log:
            lines.append(f"  log: {self.log}")
        return "\n".join(lines)


def first_line(text: str | None, limit: int = 300) -> str:
    """The line that says what went wrong. TensorFlow's graph-building errors open with "in user code:"
    and a stack of frames, and say it last: that last line, then."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith("in user code:"):
        return lines[-1][:limit]
    return lines[0][:limit] if lines else ""


class ConfigError(Torch2TFError):
    """A spec, config or matrix file is malformed."""


class EnvError(Torch2TFError):
    """An environment cannot be locked, found or built."""


class StageError(Torch2TFError):
    """A stage program failed inside its environment."""


class VerifyError(StageError):
    """A converted artifact runs but its outputs differ from the reference."""


class RoutesExhausted(StageError):
    """Every route tried for a run failed; the message lists each attempt with its hint."""
