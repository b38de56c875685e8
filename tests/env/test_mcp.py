"""`wmh mcp` over stdio, driven by the `mcp` SDK's own client: it lists the inferred tools and a
call steps the world model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

WMH = str(Path(sys.executable).parent / "wmh")


def test_an_mcp_client_lists_the_tools_and_calls_one_over_stdio(
    built_model: Path, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=WMH,
        args=["mcp", "--name", "records", "--root", str(built_model.parents[1])],
        env=dict(os.environ),  # the SDK passes on a few variables: PYTHONPATH picks the code
    )

    async def run() -> tuple[dict, list, list]:
        with anyio.fail_after(120):
            return await session()

    async def session() -> tuple[dict, list, list]:
        errlog = (tmp_path / "server.err").open("w")
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            tools = {t.name: t for t in (await client.list_tools()).tools}
            first = await client.call_tool("get_user", {"user_id": "u3"})
            unknown = await client.call_tool("no_such_tool", {})
            deep: object = "u3"
            for _ in range(120):
                deep = [deep]
            too_deep = await client.call_tool("get_user", {"user_id": deep})
            again = await client.call_tool("get_user", {"user_id": "u3"})
            usage = await client.read_resource("wmh://session/usage")
            steps.append(json.loads(usage.contents[0].text)["steps"])  # type: ignore[union-attr]
            # No reward judge: a JSON-RPC error with the reason (it was code 0, and a
            # traceback on the server's stderr).
            try:
                await client.read_resource("wmh://session/score")
            except MCPError as exc:
                refused.append((exc.code, exc.message))
            return tools, [first, again], [unknown, too_deep]

    steps: list[int] = []
    refused: list[tuple[int, str]] = []
    tools, (first, again), (unknown, too_deep) = anyio.run(run)
    ((code, message),) = refused
    assert code == -32600 and message.startswith("world model 'records' has no reward judge")
    assert "Traceback" not in (tmp_path / "server.err").read_text()
    # One episode per connection: the three calls a session could take are its three steps
    # (each call had opened a session of its own, leaving the usage resource's empty).
    assert steps == [3]
    assert "get_user" in tools
    assert tools["get_user"].input_schema["required"] == ["user_id"]
    assert not first.is_error and first.content[0].text
    assert unknown.is_error and "no_such_tool" in unknown.content[0].text
    # A call no session can hold is a tool error too, and the session goes on.
    assert too_deep.is_error
    assert too_deep.content[0].text == (
        "Error: the arguments of get_user: nested more than 100 levels deep"
    )
    assert not again.is_error and again.content[0].text


def test_the_same_over_streamable_http(built_model: Path, tmp_path: Path) -> None:

    import httpx
    from mcp.client.streamable_http import streamable_http_client

    from tests.serving.servers import background, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    argv = [WMH, "mcp", "--name", "records", "--root", str(built_model.parents[1]),
            "--transport", "http", "--port", str(port)]  # fmt: skip
    # Any answer means it is up (a bare GET on the MCP endpoint is not a 200).
    with background(argv, lambda: httpx.get(url, timeout=2) is not None, "wmh mcp",
                    tmp_path / "mcp.log"):  # fmt: skip

        async def run() -> tuple[list, bool, int]:
            with anyio.fail_after(60):
                async with (
                    streamable_http_client(url) as streams,
                    ClientSession(streams[0], streams[1]) as client,
                ):
                    await client.initialize()
                    tools = (await client.list_tools()).tools
                    called = await client.call_tool("get_user", {"user_id": "u3"})
                    await client.call_tool("get_user", {"user_id": "u4"})
                    usage = await client.read_resource("wmh://session/usage")
                    text = usage.contents[0].text  # type: ignore[union-attr]
                    return [t.name for t in tools], called.is_error, json.loads(text)["steps"]

        names, is_error, steps = anyio.run(run)
        assert "get_user" in names and not is_error and steps == 2


def test_the_sdks_default_client_gets_one_episode_over_stdio(built_model: Path) -> None:
    """The SDK's `Client` negotiates the 2026-07-28 protocol, whose every request comes on a
    connection of its own: each call was still an episode of its own."""
    from mcp import Client

    params = StdioServerParameters(
        command=WMH,
        args=["mcp", "--name", "records", "--root", str(built_model.parents[1])],
        env=dict(os.environ),  # the SDK passes on a few variables: PYTHONPATH picks the code
    )

    async def run() -> int:
        with anyio.fail_after(120):
            async with Client(params) as client:
                await client.call_tool("get_user", {"user_id": "u3"})
                await client.call_tool("get_user", {"user_id": "u4"})
                usage = await client.read_resource("wmh://session/usage")
                return int(json.loads(usage.contents[0].text)["steps"])  # type: ignore[union-attr]

    assert anyio.run(run) == 2


def test_an_episode_whose_session_expired_goes_on_in_a_new_one(built_model: Path) -> None:
    """The world model forgets a session idle past its TTL (an hour by default) or evicted past
    its cap; the client's episode still named it, so every later call and resource read was
    an error ("no session ...") until the server restarted."""
    from mcp import Client

    from wmh.engine.sessions import InMemorySessionStore
    from wmh.serving.mcp_server import make_server
    from wmh.store.loader import load_world_model

    now = [0.0]
    wm, _ = load_world_model(built_model, InMemorySessionStore(ttl_s=60, clock=lambda: now[0]))
    server = make_server(wm, one_client=True)

    async def run() -> tuple[bool, str, bool, int]:
        with anyio.fail_after(60):
            async with Client(server) as client:
                first = await client.call_tool("get_user", {"user_id": "u3"})
                now[0] += 3600  # idle past the TTL
                # Its figures went with it: a read says so, not a new episode's zeros.
                with pytest.raises(MCPError) as lost:
                    await client.read_resource("wmh://session/usage")
                after = await client.call_tool("get_user", {"user_id": "u3"})
                usage = await client.read_resource("wmh://session/usage")
                text = usage.contents[0].text  # type: ignore[union-attr]
                steps = int(json.loads(text)["steps"])
                return first.is_error, str(lost.value), after.is_error, steps

    first, lost, after, steps = anyio.run(run)
    assert (first, after, steps) == (False, False, 1)
    assert "this episode's no session" in lost and "expired" in lost


def test_in_process_refusals_are_tool_errors_and_json_rpc_errors_with_their_reason(
    built_model: Path,
) -> None:
    """What the stdio test checks of `wmh mcp`, on `make_server` in this process: a call no
    session can take and an unknown tool are tool errors (the episode goes on), and a score read
    of a model with no reward judge is the request's error (-32600), not the server's."""
    from mcp import Client

    from wmh.serving.mcp_server import make_server
    from wmh.store.loader import load_world_model

    wm, _ = load_world_model(built_model)
    server = make_server(wm, one_client=True)
    deep: object = "u3"
    for _ in range(120):
        deep = [deep]

    async def run() -> tuple[list, tuple[int, str], int]:
        with anyio.fail_after(60):
            async with Client(server) as client:
                called = [
                    await client.call_tool("get_user", {"user_id": "u3"}),
                    await client.call_tool("get_user", {"user_id": deep}),
                    await client.call_tool("no_such_tool", {}),
                ]
                with pytest.raises(MCPError) as refused:
                    await client.read_resource("wmh://session/score")
                usage = await client.read_resource("wmh://session/usage")
                steps = int(json.loads(usage.contents[0].text)["steps"])  # type: ignore[union-attr]
                return called, (refused.value.code, str(refused.value)), steps

    (first, too_deep, unknown), (code, message), steps = anyio.run(run)
    assert [first.is_error, too_deep.is_error, unknown.is_error] == [False, True, True]
    assert too_deep.content[0].text == (  # type: ignore[union-attr]
        "Error: the arguments of get_user: nested more than 100 levels deep"
    )
    assert code == -32600 and "world model 'records' has no reward judge" in message
    assert steps == 2  # the refused call took no step; the unknown tool was answered
