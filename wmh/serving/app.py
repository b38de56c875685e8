"""The HTTP backend: FastAPI routes over a registry of loaded world models.

`create_app(registry)` is the factory (tests, BentoML and `wmh serve` all use it). Routes are the
ones in DESIGN.md; errors are JSON with a `detail`: an unknown model or session is 404, an invalid
action 422 (FastAPI's list of what failed where), a missing or wrong bearer token 401.
`WMH_API_TOKEN`, when set, protects every route but `/healthz` (`/docs` and `/openapi.json` too).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

import wmh
from wmh.config.schema import ServeConfig
from wmh.core.types import Action, EnvState, Observation, Turn
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import InMemorySessionStore, SessionStore
from wmh.engine.usage import session_usage
from wmh.engine.world_model import WorldModel
from wmh.errors import (
    ConfigError,
    ModelNotFoundError,
    ProviderError,
    SessionNotFoundError,
    StoreError,
    WmhError,
)
from wmh.store.card import ModelCard, read_card
from wmh.store.loader import load_world_model
from wmh.store.store import WorldModelStore

log = logging.getLogger(__name__)

TOKEN_ENV = "WMH_API_TOKEN"
# Blocking steps (LLM calls, Redis) run in worker threads; enough for many concurrent sessions.
THREADS = 128
T = TypeVar("T")


# -- what the server holds --------------------------------------------------------------------


@dataclass
class Registry:
    """The world models one server answers for, by name."""

    models: dict[str, WorldModel] = field(default_factory=dict)
    cards: dict[str, ModelCard] = field(default_factory=dict)
    inline: dict[str, bool] = field(default_factory=dict)

    def add(self, model: WorldModel, card: ModelCard) -> None:
        self.models[model.name] = model
        self.cards[model.name] = card
        # Replay over in-memory sessions never waits on I/O and takes about a millisecond: it
        # runs on the event loop. LLM calls and Redis block, so they go to worker threads.
        self.inline[model.name] = isinstance(model.predictor, ReplayPredictor) and isinstance(
            model.sessions, InMemorySessionStore
        )

    async def run(self, name: str, call: Callable[[WorldModel], T]) -> T:
        """`call(model)` on the event loop or in a worker thread, as the model needs."""
        model = self.get(name)
        if self.inline[name]:
            return call(model)
        return await run_in_threadpool(call, model)

    def get(self, name: str) -> WorldModel:
        model = self.models.get(name)
        if model is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFoundError(f"no world model '{name}' is served here (served: {served})")
        return model


def session_store(serve: ServeConfig, model: str) -> SessionStore:
    """The session store `serve.session_store` names, for one model."""
    if serve.session_store == "memory":
        return InMemorySessionStore(serve.max_sessions, serve.session_ttl_s)
    if serve.session_store == "redis":
        from wmh.serving.redis_store import RedisSessionStore

        store = RedisSessionStore(serve.redis_url, model, serve.max_sessions, serve.session_ttl_s)
        store.ping()
        return store
    raise ConfigError(f"serve.session_store must be memory or redis, got {serve.session_store!r}")


def check_serve_config(serve: ServeConfig) -> None:
    if serve.max_sessions < 1:
        raise ConfigError(f"serve.max_sessions must be at least 1, got {serve.max_sessions}")
    if serve.session_ttl_s <= 0:
        raise ConfigError(f"serve.session_ttl_s must be > 0, got {serve.session_ttl_s}")
    if serve.workers < 1:
        raise ConfigError(f"serve.workers must be at least 1, got {serve.workers}")
    if serve.workers > 1 and serve.session_store != "redis":
        raise ConfigError(
            f"serve.workers={serve.workers} needs serve.session_store=redis: in-memory sessions "
            "live in one process, so other workers would not find them"
        )


def load_model_dir(registry: Registry, model_dir: Path, serve: ServeConfig) -> None:
    card = read_card(model_dir)
    model, _ = load_world_model(model_dir, session_store(serve, card.name))
    registry.add(model, card)


def _chosen(store: WorldModelStore, names: list[str]) -> list[str]:
    chosen = names or store.names()
    if not chosen:
        raise ModelNotFoundError(
            f"no world models in {store.models_dir}: build one with wmh build --name NAME "
            "--file TRACES, or pass --root"
        )
    return chosen


def check_models(root: str | Path, names: list[str], serve: ServeConfig) -> list[str]:
    """What `load_registry` would serve, checked without loading indexes (cards, Redis)."""
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    for name in chosen:
        read_card(store.resolve(name))
    if serve.session_store == "redis":
        session_store(serve, chosen[0])
    return chosen


def load_registry(root: str | Path, names: list[str], serve: ServeConfig) -> Registry:
    """Load the named models of a store (all of them when `names` is empty)."""
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    registry = Registry()
    for name in chosen:
        load_model_dir(registry, store.resolve(name), serve)
    return registry


# -- request and response bodies --------------------------------------------------------------


class CreateSession(BaseModel):
    task: str = Field(default="", description="What the agent was asked to do.")


class SessionCreated(BaseModel):
    session_id: str


class StepRequest(BaseModel):
    action: Action


class SessionView(BaseModel):
    id: str
    task: str
    state: EnvState
    history: list[Turn]
    usage: dict[str, float] = Field(
        default_factory=dict,
        description="Steps, prompt/completion tokens, cost and provider latency so far.",
    )


class WorldModelInfo(BaseModel):
    name: str
    provider: str
    predictor: str
    steps: int
    tools: list[str]
    heldout_score: float | None


class ToolSchema(BaseModel):
    description: str
    inputSchema: dict[str, Any]  # noqa: N815 - MCP's spelling


class WorldModelDetail(WorldModelInfo):
    tool_schemas: dict[str, ToolSchema] = Field(
        description="Each tool with its argument JSON schema, inferred from the recorded calls."
    )


class Health(BaseModel):
    status: str
    version: str
    models: list[str]


class Problem(BaseModel):
    detail: str


STATUS = (
    (ModelNotFoundError, 404),
    (SessionNotFoundError, 404),
    (ConfigError, 400),
    (ProviderError, 502),
    (StoreError, 503),
)


def _status(exc: WmhError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 400


# -- the app ----------------------------------------------------------------------------------


def _auth(token: str | None) -> Callable[..., Awaitable[None]]:
    async def check(authorization: str | None = Header(default=None)) -> None:
        if not token:
            return
        expected = f"Bearer {token}".encode()
        given = (authorization or "").encode()
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401,
                "missing or wrong bearer token: send Authorization: Bearer $WMH_API_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


STEP_PATH = "/world_models/{name}/sessions/{session_id}/step"
_STEP_BODY: TypeAdapter[StepRequest | Action] = TypeAdapter(StepRequest | Action)


def _json_body(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _body_error(error: Any) -> dict[str, Any]:
    """A pydantic error located in the body; undecodable input bytes shown as text."""
    shown = error.get("input")
    if isinstance(shown, bytes):
        shown = shown.decode("utf-8", "replace")
    return {**error, "loc": ("body", *error["loc"]), "input": shown}


async def _step(
    registry: Registry, name: str, session_id: str, body: StepRequest | Action
) -> Response:
    """Apply `{"action": {...}}` or a bare action; the observation serialised once (FastAPI would
    validate it again first)."""
    action = body.action if isinstance(body, StepRequest) else body
    observation = await registry.run(name, lambda model: model.step(session_id, action))
    return Response(observation.model_dump_json(), media_type="application/json")


def _fast_step(registry: Registry) -> Callable[[Request], Awaitable[Response]]:
    """The step endpoint as a plain Starlette handler; errors as FastAPI would answer them."""

    async def step(request: Request) -> Response:
        body = await request.body()
        try:
            if not body:
                raise RequestValidationError(
                    [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
                )
            if _json_body(request):
                parsed = _STEP_BODY.validate_json(body)
            else:  # FastAPI reads a body of another type as text, which is never an action
                parsed = _STEP_BODY.validate_python(body.decode("utf-8", "replace"))
        except ValidationError as exc:
            errors = [_body_error(e) for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        params = request.path_params
        return await _step(registry, params["name"], params["session_id"], parsed)

    return step


def create_app(registry: Registry, token: str | None = None) -> FastAPI:
    """The FastAPI app over `registry`; `token` (default: $WMH_API_TOKEN) turns auth on."""
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    app = FastAPI(
        title="wmh world models",
        version=wmh.__version__,
        description="Step agents against simulated environments built from recorded traces.",
        docs_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.registry = registry
    # Routes are added to the app itself (an included router costs a second route match per
    # request); with no token there is no dependency to solve at all.
    guard = [Depends(_auth(token))] if token else []
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        404: {"model": Problem, "description": "Unknown world model or session"},
    }
    with_body: dict[int | str, dict[str, Any]] = {
        **errors,
        400: {"model": Problem, "description": "The body is not JSON"},
    }

    def _info(name: str) -> WorldModelInfo:
        card = registry.cards[name]
        return WorldModelInfo(
            name=name,
            provider=card.provider,
            predictor=card.predictor,
            steps=card.steps,
            tools=sorted(registry.models[name].tools()),
            heldout_score=card.heldout_score,
        )

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness; never needs a token."""
        return Health(status="ok", version=wmh.__version__, models=sorted(registry.models))

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get(
        "/world_models",
        dependencies=guard,
        response_model=list[WorldModelInfo],
        responses={401: errors[401]},
        tags=["world models"],
    )
    def world_models() -> list[WorldModelInfo]:
        """The world models this server answers for."""
        return [_info(name) for name in sorted(registry.cards)]

    @app.get(
        "/world_models/{name}",
        dependencies=guard,
        response_model=WorldModelDetail,
        responses={401: errors[401], 404: errors[404]},
        tags=["world models"],
    )
    async def world_model(name: str) -> WorldModelDetail:
        """One world model, with the argument schemas of its tools."""
        model = registry.get(name)
        schemas = await run_in_threadpool(model.tool_schemas)  # computed once, then cached
        return WorldModelDetail.model_validate(
            {**_info(name).model_dump(), "tool_schemas": schemas}
        )

    @app.post(
        "/world_models/{name}/sessions",
        dependencies=guard,
        response_model=SessionCreated,
        status_code=201,
        responses=with_body,
        tags=["sessions"],
    )
    async def create_session(name: str, body: CreateSession | None = None) -> SessionCreated:
        """Start an episode; answers the new session's id."""
        task = (body or CreateSession()).task
        session = await registry.run(name, lambda model: model.new_session(task))
        return SessionCreated(session_id=session.id)

    @app.get(
        "/world_models/{name}/sessions/{session_id}",
        dependencies=guard,
        response_model=SessionView,
        responses=errors,
        tags=["sessions"],
    )
    async def get_session(name: str, session_id: str) -> SessionView:
        """The session's task, state, history and usage so far."""
        session = await registry.run(name, lambda model: model.session(session_id))
        usage = session_usage(session)
        return SessionView(
            id=session.id,
            task=session.task,
            state=session.state,
            history=session.history,
            usage=usage,
        )

    @app.post(
        STEP_PATH,
        dependencies=guard,
        response_model=Observation,
        responses=with_body,
        tags=["sessions"],
    )
    async def step(name: str, session_id: str, body: StepRequest | Action) -> Response:
        """Apply an action (`{"action": {...}}` or a bare action); answers the observation."""
        return await _step(registry, name, session_id, body)

    if not token:
        # The hot route, served without FastAPI's parameter machinery (a fifth of a replay
        # step's server time): the same body, answers and errors, matched before every other
        # route. The APIRoute above still documents it (and serves it when a token is set).
        app.router.routes.insert(0, Route(STEP_PATH, _fast_step(registry), methods=["POST"]))

    @app.delete(
        "/world_models/{name}/sessions/{session_id}",
        dependencies=guard,
        status_code=204,
        responses=errors,
        tags=["sessions"],
    )
    async def delete_session(name: str, session_id: str) -> Response:
        """End a session and forget it."""
        await registry.run(name, lambda model: model.close_session(session_id))
        return Response(status_code=204)

    @app.exception_handler(WmhError)
    async def wmh_error(_: Request, exc: WmhError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Routes sharing a path are separate routes: list every method the path has.
            path = request.url.path
            methods = {
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(path)
                for method in route.methods or ()
            }
            headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=500,
        )

    return app


# -- entry points for uvicorn workers ---------------------------------------------------------

ARGS_ENV = "WMH_SERVE_ARGS"


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` workers: what to serve comes from $WMH_SERVE_ARGS (JSON
    written by `wmh serve`), since each worker process loads the models itself."""
    import orjson

    raw = os.environ.get(ARGS_ENV)
    if not raw:
        raise ConfigError(f"${ARGS_ENV} is not set: start workers with wmh serve")
    args = orjson.loads(raw)
    serve = ServeConfig(**args["serve"])
    return create_app(load_registry(args["root"], args["names"], serve))
