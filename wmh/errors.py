"""The one error hierarchy of wmh: library code raises these, the CLI turns them into a message.

Every error says what was wrong and where (file, line, field) so a user can fix the input.
"""

from __future__ import annotations

from pathlib import Path


class WmhError(Exception):
    """Base of every error wmh raises on purpose."""


class ConfigError(WmhError):
    """A configuration value or override is invalid."""


class IngestError(WmhError):
    """A trace file cannot be read as expected."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class EmptyCorpusError(WmhError):
    """The inputs held no usable step."""


class StoreError(WmhError):
    """A model directory is missing, malformed or cannot be written."""


class ModelNotFoundError(StoreError):
    """No built world model of that name."""


SHOWN_ID = 64  # characters of an unknown session id an error shows back


class SessionNotFoundError(WmhError):
    """No session with that id in a world model."""

    @classmethod
    def missing(cls, session_id: str, *, expired: bool = True) -> SessionNotFoundError:
        """The error for an id no session has; a long id is shown clipped, with its length (an
        id is whatever a client put in the path: 5,000 characters came back whole)."""
        if len(session_id) > SHOWN_ID:
            return cls(f"no session '{session_id[:SHOWN_ID]}…' ({len(session_id)} characters)")
        return cls(f"no session '{session_id}'" + (" (it may have expired)" if expired else ""))


class ProviderError(WmhError):
    """A provider call failed after retries and fallbacks (or answered nothing usable: then
    `usage` holds what the call that was made cost)."""

    usage: object = None


class ServerBusyError(WmhError):
    """More steps wait for a worker thread than `serve.max_waiting` allows (503, retry)."""


# Set on the 503 of a ServerBusyError, refused before anything was applied: a client may send
# the request again. (Another 503, a session store failing while it saves, may not be.)
NOT_APPLIED_HEADER = "X-Wmh-Not-Applied"
# Set on a 404 to say what was not found (`model` or `session`), so a client can tell the two.
NOT_FOUND_HEADER = "X-Wmh-Not-Found"


class InputError(WmhError):
    """An action or seed state no session can hold: nested deeper than `MAX_JSON_DEPTH`, or a
    number JSON cannot write (NaN, Infinity); a 422 over HTTP."""


class SessionFullError(WmhError):
    """A session reached its cap on steps or bytes (`serve.max_session_steps`, `_bytes`)."""
