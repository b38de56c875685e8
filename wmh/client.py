"""A world model over HTTP with the in-process `WorldModel`'s methods, so an RL loop moves between
in-process and remote by changing the line that makes it:

    wm = WorldModelClient("http://127.0.0.1:8000", "airline")   # or: wm, _ = load_world_model(...)
    session = wm.new_session(task="Cancel reservation W64VY9", seed_state=scenario.seed_state)
    observation = wm.step(session.id, Action(name="get_reservation_details", arguments={...}))
    score = wm.score_session(session.id); usage = wm.end_session(session.id)

`AsyncWorldModelClient` is the same with `await`, for many rollouts at once. Both keep one
connection pool (httpx) and retry a 503 (a busy or briefly unavailable server; its Retry-After is
honoured) and a failed connection, with backoff (tenacity); any other error answer raises a
`RemoteError` with the server's `detail` (a 404 on a session: `SessionNotFoundError`).

A read is retried on any transport failure. A step, a new session, a score or an end is retried
only when the request never left (the connection could not be made): one that timed out or lost
its connection may have been applied, and sent again it would be applied twice. It raises
`ConnectionLostError`, and the session (`session(id)`) shows whether it was.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.wait import wait_base

from wmh.core.secrets import url_without_credentials
from wmh.core.types import (
    Action,
    EnvState,
    EpisodeScore,
    Observation,
    Session,
    Turn,
    UsageTotals,
    check_action_values,
    json_value_problem,
    seed_state_from,
    validation_reasons,
)
from wmh.engine.usage import UsageRecord
from wmh.errors import (
    NOT_APPLIED_HEADER,
    NOT_FOUND_HEADER,
    ConfigError,
    InputError,
    ModelNotFoundError,
    SessionNotFoundError,
    WmhError,
)

RETRY_STATUS = 503


class RemoteError(WmhError):
    """The server answered an error."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ModelNotServedError(RemoteError, ModelNotFoundError):
    """A 404 for the world model itself (a wrong name), not for one of its sessions."""


class ConnectionLostError(WmhError):
    """The server could not be reached, or gave no answer (a request that changes a session may
    then have been applied: read the session to know)."""


class _Busy(Exception):
    """A 503, to be retried (carrying the server's Retry-After, in seconds)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.text[:200])
        self.response = response
        # The server says it applied nothing (it was busy); another 503, e.g. a session store
        # that failed while saving, may come after the step was written.
        self.not_applied = response.headers.get(NOT_APPLIED_HEADER) == "1"
        try:
            self.detail = str(response.json().get("detail", response.text[:500]))
        except (ValueError, AttributeError):
            self.detail = response.text[:500]
        try:
            self.retry_after = float(response.headers.get("retry-after", "0"))
        except ValueError:
            self.retry_after = 0.0


_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # never reached the server


def _retryable(exc: BaseException) -> bool:
    """A read: any transport failure, or a 503."""
    return isinstance(exc, _Busy | httpx.TransportError)


def _retryable_once_applied(exc: BaseException) -> bool:
    """A request that changes a session: only one that was never sent, or a 503 the server
    marks as refused before anything was applied."""
    return isinstance(exc, _UNSENT) or (isinstance(exc, _Busy) and exc.not_applied)


def _failure(method: str, url: str, exc: Exception) -> WmhError:
    """The WmhError a request's last failure is (the URL shown without credentials)."""
    shown = url_without_credentials(url)
    if isinstance(exc, _Busy):
        if method != "GET" and not exc.not_applied:
            return RemoteError(
                RETRY_STATUS, f"{exc.detail} (it may have been applied: read the session to know)"
            )
        return RemoteError(RETRY_STATUS, exc.detail)
    if isinstance(exc, _UNSENT):
        return ConnectionLostError(f"cannot reach {shown} ({type(exc).__name__})")
    applied = (
        ""
        if method == "GET"
        else (": it may have been applied; read the session to know before sending it again")
    )
    return ConnectionLostError(
        f"no answer from {shown} to {method} ({type(exc).__name__}){applied}"
    )


class _WaitRetryAfter(wait_base):
    """Exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self) -> None:
        self.backoff = wait_exponential(multiplier=0.1, max=5.0)

    def __call__(self, retry_state: Any) -> float:
        wait = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return max(wait, exc.retry_after) if isinstance(exc, _Busy) else wait


def _retry_options(attempts: int, method: str = "GET") -> dict[str, Any]:
    safe = _retryable if method == "GET" else _retryable_once_applied
    return {
        "stop": stop_after_attempt(max(1, attempts)),
        "wait": _WaitRetryAfter(),
        "retry": retry_if_exception(safe),
        "reraise": True,
    }


# Values are checked here as `WorldModel` checks them (InputError), before they are sent: JSON
# has no NaN, so the request would carry null in its place and the server could not refuse it.


def _action(action: Action | dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = action if isinstance(action, Action) else Action.model_validate(action)
    except ValidationError as exc:
        raise InputError(f"not an action: {validation_reasons(exc)}") from None
    check_action_values(parsed, native=False)  # a date or an Enum goes as pydantic writes it
    try:
        return {"action": parsed.model_dump(mode="json")}
    except PydanticSerializationError:
        raise InputError(
            f"the arguments of {parsed.name or 'the action'}: {_unwritable(parsed.arguments)}"
        ) from None


def _seed(seed_state: EnvState | dict[str, Any] | None) -> dict[str, Any] | None:
    state = seed_state_from(seed_state, native=False)
    try:
        return None if state is None else state.model_dump(mode="json")
    except PydanticSerializationError:
        raise InputError(f"the seed state: {_unwritable(state.structured)}") from None  # type: ignore[union-attr]


def _unwritable(value: Any) -> str:
    """What `json_value_problem` says of the value pydantic could not write."""
    return json_value_problem(value) or "holds a value that is not a JSON value"


def _check(response: httpx.Response) -> Any:
    """The answer's JSON, or the error it is."""
    if response.status_code == RETRY_STATUS:
        raise _Busy(response)
    if response.status_code >= 400:
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text[:500]
        missing = response.headers.get(NOT_FOUND_HEADER)
        if response.status_code == 404 and missing == "model":
            raise ModelNotServedError(404, detail)
        if response.status_code == 404 and (
            missing == "session" or (missing is None and "/sessions/" in response.request.url.path)
        ):
            raise SessionNotFoundError(detail)
        raise RemoteError(response.status_code, detail)
    return response.json() if response.content else None


class _Routes:
    """The paths and bodies of DESIGN.md's routes, and how their answers are read."""

    def __init__(self, model: str) -> None:
        self.model = model

    def sessions(self) -> str:
        return f"/world_models/{self.model}/sessions"

    def session(self, session_id: str, tail: str = "") -> str:
        """A session's path, its id escaped (`a?b` named another route). `..` (the model's own
        route) and an id with a `/` are no session's: servers decode an escaped `/` before they
        route, so `x/usage` reached session x's usage."""
        if not isinstance(session_id, str) or session_id.strip(".") == "" or "/" in session_id:
            raise InputError(f"not a session id: {session_id!r}")
        return f"/world_models/{self.model}/sessions/{quote(session_id, safe='')}{tail}"

    @staticmethod
    def created(data: dict[str, Any], task: str | None) -> Session:
        return Session(
            id=data["session_id"],
            task=task or "",
            state=EnvState.model_validate(data.get("state") or {}),
        )

    @staticmethod
    def viewed(data: dict[str, Any]) -> Session:
        return Session(
            id=data["id"],
            task=data.get("task", ""),
            state=EnvState.model_validate(data.get("state") or {}),
            history=[Turn.model_validate(t) for t in data.get("history", [])],
            usage={
                phase: UsageTotals.model_validate(figures)
                for phase, figures in (data.get("usage") or {}).get("by_phase", {}).items()
            },
            score=EpisodeScore.model_validate(data["score"]) if data.get("score") else None,
        )


def _headers(token: str | None) -> dict[str, str]:
    if token and not (token.isascii() and token.isprintable()):
        # httpx would refuse the header with the token in its message.
        raise ConfigError("the API token holds a line break, a control or a non-ASCII character")
    return {"Authorization": f"Bearer {token}"} if token else {}


class WorldModelClient:
    """One world model of a `wmh serve` (or bento) server, with `WorldModel`'s methods."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 5,
        client: httpx.Client | None = None,
    ) -> None:
        self.name = model
        self._routes = _Routes(model)
        self._http = client or httpx.Client(
            base_url=base_url, headers=_headers(token), timeout=timeout
        )
        self._retries = retries

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            for attempt in Retrying(**_retry_options(self._retries, method)):
                with attempt:
                    return _check(self._http.request(method, path, json=body))
        except (_Busy, httpx.TransportError) as exc:
            raise _failure(method, str(self._http.base_url.join(path)), exc) from None
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def world_models(self) -> list[str]:
        names: list[str] = self._call("GET", "/world_models")["world_models"]
        return names

    def tool_schemas(self) -> dict[str, dict[str, Any]]:
        schemas: dict[str, dict[str, Any]] = self._call("GET", f"/world_models/{self.name}")[
            "tool_schemas"
        ]
        return schemas

    def new_session(
        self, task: str | None = None, seed_state: EnvState | dict[str, Any] | None = None
    ) -> Session:
        data = self._call(
            "POST", self._routes.sessions(), {"task": task, "seed_state": _seed(seed_state)}
        )
        return self._routes.created(data, task)

    def session(self, session_id: str) -> Session:
        return self._routes.viewed(self._call("GET", self._routes.session(session_id)))

    def step(self, session_id: str, action: Action | dict[str, Any]) -> Observation:
        data = self._call("POST", self._routes.session(session_id, "/step"), _action(action))
        return Observation.model_validate(data["observation"])

    def session_usage(self, session_id: str) -> UsageRecord:
        return UsageRecord.model_validate(
            self._call("GET", self._routes.session(session_id, "/usage"))
        )

    def score_session(self, session_id: str) -> EpisodeScore:
        return EpisodeScore.model_validate(
            self._call("POST", self._routes.session(session_id, "/score"))
        )

    def end_session(self, session_id: str) -> UsageRecord:
        return UsageRecord.model_validate(self._call("DELETE", self._routes.session(session_id)))

    def close_session(self, session_id: str) -> None:
        self.end_session(session_id)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WorldModelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncWorldModelClient:
    """`WorldModelClient` for asyncio: the same methods, awaited."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = model
        self._routes = _Routes(model)
        self._http = client or httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(token),
            timeout=timeout,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )
        self._retries = retries

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async for attempt in AsyncRetrying(**_retry_options(self._retries, method)):
                with attempt:
                    return _check(await self._http.request(method, path, json=body))
        except (_Busy, httpx.TransportError) as exc:
            raise _failure(method, str(self._http.base_url.join(path)), exc) from None
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def world_models(self) -> list[str]:
        names: list[str] = (await self._call("GET", "/world_models"))["world_models"]
        return names

    async def tool_schemas(self) -> dict[str, dict[str, Any]]:
        data = await self._call("GET", f"/world_models/{self.name}")
        schemas: dict[str, dict[str, Any]] = data["tool_schemas"]
        return schemas

    async def new_session(
        self, task: str | None = None, seed_state: EnvState | dict[str, Any] | None = None
    ) -> Session:
        body = {"task": task, "seed_state": _seed(seed_state)}
        return self._routes.created(await self._call("POST", self._routes.sessions(), body), task)

    async def session(self, session_id: str) -> Session:
        return self._routes.viewed(await self._call("GET", self._routes.session(session_id)))

    async def step(self, session_id: str, action: Action | dict[str, Any]) -> Observation:
        path = self._routes.session(session_id, "/step")
        data = await self._call("POST", path, _action(action))
        return Observation.model_validate(data["observation"])

    async def session_usage(self, session_id: str) -> UsageRecord:
        path = self._routes.session(session_id, "/usage")
        return UsageRecord.model_validate(await self._call("GET", path))

    async def score_session(self, session_id: str) -> EpisodeScore:
        path = self._routes.session(session_id, "/score")
        return EpisodeScore.model_validate(await self._call("POST", path))

    async def end_session(self, session_id: str) -> UsageRecord:
        path = self._routes.session(session_id)
        return UsageRecord.model_validate(await self._call("DELETE", path))

    async def close_session(self, session_id: str) -> None:
        await self.end_session(session_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncWorldModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
