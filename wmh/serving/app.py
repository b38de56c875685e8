"""The HTTP backend: FastAPI routes over a registry of loaded world models.

`create_app(registry)` is the factory (tests, BentoML and `wmh serve` all use it). Routes are the
ones in DESIGN.md; what they take and answer is `schemas.py`, the step route is `step.py`, the
bearer token `auth.py`, and errors as answers `problems.py`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.params import Depends as Dependency
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

import wmh
from wmh.core.types import Action, EpisodeScore
from wmh.engine.usage import UsageRecord, usage_record
from wmh.serving.auth import BearerGuard, bearer_check, configured_token
from wmh.serving.docs_assets import DOCS_ASSETS, FILES, docs_assets_dir
from wmh.serving.limits import BodyLimit
from wmh.serving.problems import DepthCheckedRoute, add_error_handlers
from wmh.serving.registry import Registry
from wmh.serving.schemas import (
    CreateSession,
    Health,
    Problem,
    SessionCreated,
    SessionView,
    StepAnswer,
    StepRequest,
    ValidationProblem,
    WorldModelDetail,
    WorldModelInfo,
    WorldModelList,
)
from wmh.serving.step import (
    CREATE_PATH,
    STEP_PATH,
    apply_step,
    plain_create_handler,
    plain_step_handler,
)

Responses = dict[int | str, dict[str, Any]]
ERRORS: Responses = {
    401: {"model": Problem, "description": "Missing or wrong bearer token"},
    404: {"model": Problem, "description": "Unknown world model or session"},
    # A field-by-field list, or one message for a value no session can hold (a number that is
    # not finite or has too many digits, a body nested too deep).
    422: {"model": ValidationProblem | Problem, "description": "A value that cannot be taken"},
    503: {
        "model": Problem,
        "description": "The session store is unavailable, or the server is busy (Retry-After)",
    },
}
WITH_BODY: Responses = {
    **ERRORS,
    400: {"model": Problem, "description": "The body is not JSON"},
    413: {"model": Problem, "description": "The body, or the session, is too large"},
    415: {"model": Problem, "description": "The body is not sent as JSON"},
}


def create_app(registry: Registry, token: str | None = None) -> FastAPI:
    """The FastAPI app over `registry`; `token` (default: $WMH_API_TOKEN) turns auth on."""
    token = configured_token(token)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Calls that may block (a custom predictor, a reward judge) run in `serve.threads` threads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = registry.threads
        yield

    app = FastAPI(
        title="wmh world models",
        version=wmh.__version__,
        description="Step agents against simulated environments built from recorded traces.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.router.route_class = DepthCheckedRoute  # before any route is added
    # Routes are added to the app itself (an included router costs a second route match per
    # request); with no token there is no dependency to solve at all.
    guard = [Depends(bearer_check(token))] if token else []
    _add_service_routes(app, registry, guard)
    _add_model_routes(app, registry, guard)
    _add_session_routes(app, registry, guard)
    # The routes that take a body, served without FastAPI's parameter machinery (the hot one,
    # and a large body validated off the event loop): the same body, answers and errors,
    # matched before every other route (each documented route is its OpenAPI entry). With a
    # token, `BearerGuard` has checked it before any route runs.
    app.router.routes.insert(0, Route(STEP_PATH, plain_step_handler(registry), methods=["POST"]))
    app.router.routes.insert(
        1, Route(CREATE_PATH, plain_create_handler(registry), methods=["POST"])
    )
    add_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=registry.max_body_bytes)
    if token:  # added last, so outermost: a request without the token is refused first
        app.add_middleware(
            BearerGuard, token=token, open_paths=frozenset({"/healthz"}),
            open_prefixes=(DOCS_ASSETS + "/",),
        )  # fmt: skip
    return app


def _add_service_routes(app: FastAPI, registry: Registry, guard: list[Dependency]) -> None:
    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness; never needs a token."""
        return Health(
            status="ok", version=wmh.__version__, models=sorted(registry.models), pid=os.getpid()
        )

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    assets = docs_assets_dir()
    swagger: dict[str, Any] = {}
    redoc: dict[str, Any] = {}
    if assets is not None:
        swagger = {
            "swagger_js_url": f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            "swagger_css_url": f"{DOCS_ASSETS}/swagger-ui.css",
            "swagger_favicon_url": f"{DOCS_ASSETS}/favicon.png",
        }
        redoc = {
            "redoc_js_url": f"{DOCS_ASSETS}/redoc.standalone.js",
            "redoc_favicon_url": f"{DOCS_ASSETS}/favicon.png",
            "with_google_fonts": False,
        }

        @app.get(DOCS_ASSETS + "/{name}", include_in_schema=False)
        def docs_asset(name: str) -> Response:
            if name not in FILES:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            return FileResponse(assets / name, media_type=FILES[name])

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title, **swagger)

    @app.get("/redoc", include_in_schema=False, dependencies=guard)
    def redoc_page() -> Response:
        return get_redoc_html(openapi_url="/openapi.json", title=app.title, **redoc)


def _info(registry: Registry, name: str) -> WorldModelInfo:
    card = registry.cards[name]
    return WorldModelInfo(
        name=name,
        provider=card.provider,
        predictor=card.predictor,
        steps=card.steps,
        tools=sorted(registry.models[name].tools()),
        heldout_score=card.heldout_score,
    )


def _add_model_routes(app: FastAPI, registry: Registry, guard: list[Dependency]) -> None:
    @app.get(
        "/world_models",
        dependencies=guard,
        response_model=WorldModelList,
        responses={401: ERRORS[401]},
        tags=["world models"],
    )
    def world_models() -> WorldModelList:
        """The world models this server answers for: their names, and each one's details."""
        names = sorted(registry.cards)
        return WorldModelList(world_models=names, models=[_info(registry, name) for name in names])

    @app.get(
        "/world_models/{name}",
        dependencies=guard,
        response_model=WorldModelDetail,
        responses={401: ERRORS[401], 404: ERRORS[404]},
        tags=["world models"],
    )
    async def world_model(name: str) -> WorldModelDetail:
        """One world model, with the argument schemas of its tools."""
        model = registry.get(name)
        schemas = await run_in_threadpool(model.tool_schemas)  # computed once, then cached
        return WorldModelDetail.model_validate(
            {**_info(registry, name).model_dump(), "tool_schemas": schemas}
        )


def _add_session_routes(app: FastAPI, registry: Registry, guard: list[Dependency]) -> None:
    @app.post(
        CREATE_PATH,
        dependencies=guard,
        response_model=SessionCreated,
        status_code=201,
        responses=WITH_BODY,
        tags=["sessions"],
    )
    async def create_session(name: str, body: CreateSession | None = None) -> SessionCreated:
        """Start an episode from a task and, optionally, a seed state; answers its id and
        starting state."""
        given = body or CreateSession()
        session = await registry.run(
            name, lambda model: model.new_session(given.task, given.seed_state)
        )
        return SessionCreated(session_id=session.id, state=session.state)

    @app.get(
        "/world_models/{name}/sessions/{session_id}",
        dependencies=guard,
        response_model=SessionView,
        responses=ERRORS,
        tags=["sessions"],
    )
    async def get_session(name: str, session_id: str) -> SessionView:
        """The session's task, state, history, usage and score so far."""
        session = await registry.run(name, lambda model: model.session(session_id))
        return SessionView(
            id=session.id,
            task=session.task,
            state=session.state,
            history=session.history,
            usage=usage_record(session),
            score=session.score,
        )

    @app.get(
        "/world_models/{name}/sessions/{session_id}/usage",
        dependencies=guard,
        response_model=UsageRecord,
        responses=ERRORS,
        tags=["sessions"],
    )
    async def get_usage(name: str, session_id: str) -> UsageRecord:
        """Steps, tokens, cost and provider time so far (world model and judge apart)."""
        return await registry.run(name, lambda model: model.session_usage(session_id))

    @app.post(
        "/world_models/{name}/sessions/{session_id}/score",
        dependencies=guard,
        response_model=EpisodeScore,
        responses={**ERRORS, 400: {"model": Problem, "description": "No reward judge"}},
        tags=["sessions"],
    )
    async def score(name: str, session_id: str) -> EpisodeScore:
        """Score the episode with the model's reward judge (`reward=` when serving), from its
        task and history alone; the judge's cost is added to the session's usage."""
        return await registry.run(
            name, lambda model: model.score_session(session_id), blocking=True
        )

    @app.post(
        STEP_PATH,
        dependencies=guard,
        response_model=StepAnswer,
        responses=WITH_BODY,
        tags=["sessions"],
    )
    async def step(name: str, session_id: str, body: StepRequest | Action) -> Response:
        """Apply an action (`{"action": {...}}` or a bare action); answers
        `{"observation": {...}, "state": {...}}`."""
        return await apply_step(registry, name, session_id, body)

    @app.delete(
        "/world_models/{name}/sessions/{session_id}",
        dependencies=guard,
        response_model=UsageRecord,
        responses=ERRORS,
        tags=["sessions"],
    )
    async def delete_session(name: str, session_id: str) -> UsageRecord:
        """End a session and forget it; answers its final usage record."""
        return await registry.run(name, lambda model: model.end_session(session_id))
