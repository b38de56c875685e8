"""`wmh mcp`: a world model's tools as an MCP server (the `mcp` SDK's low-level server).

The tools are the ones the traces recorded, with argument schemas inferred from the calls. Each
MCP client is one episode: its first call opens a world model session, and every call is a step
of it (so writes show in later reads, as they would in the real environment). Over stdio the
client is the process's; over HTTP, an MCP session (`mcp-session-id`). A tool's
answer is the predicted observation; an environment error is a result with `isError` set.

Two resources describe the connection's episode without being tools an agent could call:
`wmh://session/usage` (its usage record) and `wmh://session/score` (reading it has the model's
reward judge score the episode, as `POST .../score` does over HTTP).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST
from pydantic import ValidationError

from wmh.core.types import Action, ActionKind, validation_reasons
from wmh.engine.world_model import WorldModel
from wmh.errors import ConfigError, InputError, SessionNotFoundError, WmhError

log = logging.getLogger(__name__)


def mcp_tools(wm: WorldModel) -> list[types.Tool]:
    return [
        types.Tool(name=name, description=spec["description"], input_schema=spec["inputSchema"])
        for name, spec in sorted(wm.tool_schemas().items())
    ]


USAGE_URI = "wmh://session/usage"
SCORE_URI = "wmh://session/score"
RESOURCES = [
    types.Resource(
        name="usage",
        uri=USAGE_URI,
        description="This episode's usage record (steps, tokens, cost, judge apart)",
        mime_type="application/json",
    ),
    types.Resource(
        name="score",
        uri=SCORE_URI,
        description="Score this episode with the world model's reward judge",
        mime_type="application/json",
    ),
]


class _Process:
    """The one client of a stdio server (its process serves it alone)."""


def _connection(ctx: Any) -> Any:
    """The client connection a request came over. The SDK hands each request a `ServerSession`
    of its own (keying the episode on it gave every call a new session: writes were lost and
    the usage and score resources saw an empty episode); the connection they share is its
    `_connection`, which the SDK's request context exposes to no lowlevel handler."""
    session = getattr(ctx, "session", None)
    return getattr(session, "_connection", None) or getattr(ctx, "connection", None) or session


def make_server(wm: WorldModel, task: str = "", one_client: bool = False) -> Server[Any]:
    """An MCP server over `wm`: one world model session per client. With `one_client` (stdio:
    the process serves one client) that is the process's; otherwise the MCP session's
    (`mcp-session-id`, which the 2026-07-28 protocol's per-request connections share), else
    the connection's (a stateless client without one gets an episode per request)."""
    process = _Process()
    by_connection: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
    by_id: dict[str, str] = {}

    def live(known: str | None, renew: bool) -> str:
        """The episode's session, or, for a tool call, a new one when the world model has let
        it go (idle past `session_ttl_s`, or evicted past `max_sessions`): every later call of
        the client would otherwise fail on a session no call can reach. A resource read of a
        lost episode says so rather than describe a new, empty one."""
        if known is not None:
            try:
                return wm.session(known).id
            except SessionNotFoundError:
                if not renew:
                    raise
                log.warning("the episode's session %s has expired: a new one starts", known)
        return wm.new_session(task).id

    def session_of(ctx: Any, renew: bool = True) -> str:
        connection = process if one_client else _connection(ctx)
        mcp_session = getattr(connection, "session_id", None)
        if isinstance(mcp_session, str) and mcp_session:
            by_id[mcp_session] = live(by_id.get(mcp_session), renew)
            return by_id[mcp_session]
        by_connection[connection] = live(by_connection.get(connection), renew)
        return by_connection[connection]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=mcp_tools(wm))

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            action = Action(
                kind=ActionKind.TOOL_CALL, name=params.name, arguments=dict(params.arguments or {})
            )
            observation = wm.step(session_of(ctx), action)
        except (InputError, ValidationError) as exc:
            # A call no session can take is answered as a tool error, as an unknown tool is.
            why = str(exc) if isinstance(exc, InputError) else validation_reasons(exc)
            return types.CallToolResult(
                content=[types.TextContent(text=f"Error: {why}")],
                is_error=True,
            )
        return types.CallToolResult(
            content=[types.TextContent(text=observation.content)],
            is_error=observation.is_error,
        )

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=RESOURCES)

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri not in (USAGE_URI, SCORE_URI):
            raise MCPError(INVALID_PARAMS, f"no resource {uri!r}: {USAGE_URI} or {SCORE_URI}")
        try:
            if uri == USAGE_URI:
                text = wm.session_usage(session_of(ctx, renew=False)).model_dump_json()
            else:
                text = wm.score_session(session_of(ctx, renew=False)).model_dump_json()
        except SessionNotFoundError as exc:  # the episode's session expired: its figures too
            raise MCPError(INVALID_REQUEST, f"this episode's {exc}") from None
        except ConfigError as exc:  # no reward judge: asked of a model that cannot answer it
            raise MCPError(INVALID_REQUEST, str(exc)) from None
        except WmhError as exc:  # the session store or the judge's provider failed
            raise MCPError(INTERNAL_ERROR, str(exc)) from None
        contents: list[types.TextResourceContents | types.BlobResourceContents] = [
            types.TextResourceContents(uri=uri, mime_type="application/json", text=text)
        ]
        return types.ReadResourceResult(contents=contents)

    return Server(
        f"wmh-{wm.name}",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


async def serve_stdio(wm: WorldModel, task: str = "") -> None:
    from mcp.server.stdio import stdio_server

    server = make_server(wm, task, one_client=True)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve_http(wm: WorldModel, host: str, port: int, task: str = "") -> None:
    """Streamable HTTP at http://HOST:PORT/mcp."""
    import uvicorn

    app = make_server(wm, task).streamable_http_app(host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")
