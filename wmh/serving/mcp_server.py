"""`wmh mcp`: a world model's tools as an MCP server (the `mcp` SDK's low-level server).

The tools are the ones the traces recorded, with argument schemas inferred from the calls. Each
MCP connection is one episode: its first call opens a world model session, and every call is a
step of it (so writes show in later reads, as they would in the real environment). A tool's
answer is the predicted observation; an environment error is a result with `isError` set.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server

from wmh.core.types import Action, ActionKind
from wmh.engine.world_model import WorldModel

log = logging.getLogger(__name__)


def mcp_tools(wm: WorldModel) -> list[types.Tool]:
    return [
        types.Tool(name=name, description=spec["description"], input_schema=spec["inputSchema"])
        for name, spec in sorted(wm.tool_schemas().items())
    ]


def make_server(wm: WorldModel, task: str = "") -> Server[Any]:
    """An MCP server over `wm`: one world model session per MCP connection."""
    sessions: dict[int, str] = {}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=mcp_tools(wm))

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        connection = id(getattr(ctx, "session", None))
        if connection not in sessions:
            sessions[connection] = wm.new_session(task).id
        action = Action(
            kind=ActionKind.TOOL_CALL, name=params.name, arguments=dict(params.arguments or {})
        )
        observation = wm.step(sessions[connection], action)
        return types.CallToolResult(
            content=[types.TextContent(text=observation.content)],
            is_error=observation.is_error,
        )

    return Server(f"wmh-{wm.name}", on_list_tools=list_tools, on_call_tool=call_tool)


async def serve_stdio(wm: WorldModel, task: str = "") -> None:
    from mcp.server.stdio import stdio_server

    server = make_server(wm, task)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve_http(wm: WorldModel, host: str, port: int, task: str = "") -> None:
    """Streamable HTTP at http://HOST:PORT/mcp."""
    import uvicorn

    app = make_server(wm, task).streamable_http_app(host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")
