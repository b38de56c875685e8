"""`wmh play`: a REPL that steps a session of a world model, one typed action at a time.

Type a tool call as `name {"json": "arguments"}` (or a bare known tool name), anything else is a
message to the environment. Lines starting with ':' are commands (:help, :history, :new, :quit).
Piped input is read line by line, so a session can be scripted.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from wmh.cli.common import RootOption, console
from wmh.core.types import MAX_JSON_DEPTH, Action, ActionKind, Observation, validation_reasons
from wmh.errors import InputError, WmhError

if TYPE_CHECKING:
    from wmh.engine.world_model import WorldModel

_CALL = re.compile(r"^(?P<name>[A-Za-z_][\w.\-]*)(?:\s+(?P<args>\{.*\}))?\s*$", re.DOTALL)
HELP = (
    'tool call: NAME {"arg": value}   message: any other text\n'
    ":tools  known tools and their arguments   :history  show this session   "
    ":new [task]  new session   :quit"
)


def parse_action(line: str, known_tools: set[str]) -> Action:
    """A typed line as an Action; raises WmhError when JSON arguments do not parse (a line that
    starts with a known tool's name and goes on is a call whose arguments must be JSON)."""
    text = line.strip()
    first, _, rest = text.partition(" ")
    offset = len(first) + 1  # where `rest` starts in the line
    glued = first.find("{")  # a known tool's `name{"a": 1}`: its arguments without a space
    if glued > 0 and first[:glued] in known_tools:
        first, rest, offset = first[:glued], text[glued:], glued
        text = f"{first} {rest}"  # read as written with one
    if first in known_tools and rest.strip() and not _CALL.match(text):
        try:
            json.loads(rest)
        except json.JSONDecodeError as exc:
            raise WmhError(
                f"the arguments of {first} are not valid JSON: {exc.msg} at column "
                f"{exc.colno + offset} (a message to the environment must not start "
                "with a tool's name)"
            ) from None
        raise WmhError(f"the arguments of {first} must be a JSON object, got: {rest.strip()}")
    match = _CALL.match(text)
    if match and (match.group("args") or match.group("name") in known_tools):
        raw = match.group("args")
        try:
            arguments = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise WmhError(
                f"arguments are not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        except RecursionError:
            raise WmhError(f"arguments are nested more than {MAX_JSON_DEPTH} levels deep") from None
        return _action(kind=ActionKind.TOOL_CALL, name=match.group("name"), arguments=arguments)
    return _action(kind=ActionKind.MESSAGE, content=line.strip())  # as typed


def _action(**fields: Any) -> Action:
    """The Action, or a WmhError saying why the line is none (a lone surrogate: text that
    was not UTF-8)."""
    try:
        return Action(**fields)
    except ValidationError as exc:
        raise WmhError(validation_reasons(exc)) from None


def _show(action: Action, observation: Observation) -> None:
    style = "red" if observation.is_error else "green"
    source = observation.metadata.get("source", "")
    # Observations are data: escape them so text like "[exit code 0]" is shown, not parsed.
    console.print(f"[bold]>[/] {escape(action.render())}", markup=True)
    console.print(f"[{style}]{escape(observation.content)}[/]  [dim]({source})[/]", markup=True)


def tool_lines(schemas: dict[str, dict]) -> list[str]:
    """`name(arg: type, other?: type)` per tool (`?`: not every recorded call passed it), with
    a call to copy built from recorded values."""
    lines = []
    for tool, schema in schemas.items():
        spec = schema.get("inputSchema", {})
        required = set(spec.get("required", []))
        properties = spec.get("properties", {})
        arguments = []
        example = {}
        for key, prop in properties.items():
            kind = prop.get("type", "any")
            kind = " | ".join(kind) if isinstance(kind, list) else kind
            arguments.append(f"{key}{'' if key in required else '?'}: {kind}")
            if key in required and prop.get("examples"):
                example[key] = prop["examples"][0]
        lines.append(f"{tool}({', '.join(arguments)})")
        lines.append(f"    e.g. {tool} {json.dumps(example, ensure_ascii=False)}")
    return lines


def _command(line: str, wm: WorldModel, session_id: str, tools: set[str]) -> str | None:
    """Handle a ':' command; returns the (possibly new) session id, or None to quit."""
    word, _, rest = line[1:].partition(" ")
    if word in ("q", "quit", "exit"):
        return None
    if word == "tools":
        schemas = wm.tool_schemas()
        for line in tool_lines(schemas) or ["(no tools recorded)"]:
            console.print(escape(line), highlight=False)
    elif word == "history":
        for turn in wm.session(session_id).history:
            _show(turn.action, turn.observation)
    elif word == "new":
        session_id = wm.new_session(task=rest.strip()).id
        console.print(f"new session {session_id}")
    elif word in ("help", "h", "?"):
        console.print(HELP)
    else:
        console.print(f"unknown command ':{escape(word)}'\n{HELP}")
    return session_id


def play(
    name: str = typer.Option(..., "--name", "-n", help="World model to play against."),
    root: Path = RootOption,
    task: str = typer.Option("", "--task", "-t", help="What the agent is asked to do."),
    override: list[str] = typer.Option(
        [], "--override", "-o", help="e.g. -o provider.api_base=URL -o predictor.cache=false"
    ),
) -> None:
    """Step a world model interactively (or from piped lines)."""
    from wmh.store.loader import load_world_model
    from wmh.store.store import WorldModelStore

    model_dir = WorldModelStore(root).resolve(name)
    settings = None
    if override:
        from wmh.store.settings import eval_overrides, model_settings

        settings = eval_overrides(model_settings(model_dir), name, override, judged=False)
    wm, provider = load_world_model(model_dir, settings=settings)
    tools = wm.tools()
    session_id = wm.new_session(task=task).id
    interactive = sys.stdin.isatty()
    if interactive:
        console.print(
            f"world model [bold]{name}[/] ({provider.describe()}); "
            f"{len(tools)} tools. :help for help.",
            markup=True,
        )
    while True:
        try:
            line = console.input("[bold cyan]wmh>[/] ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        undecoded = next((i for i, char in enumerate(line) if "\udc80" <= char <= "\udcff"), None)
        if undecoded is not None:  # stdin keeps bytes that are not UTF-8 as lone surrogates
            byte = ord(line[undecoded]) - 0xDC00
            console.print(
                f"[red]the line is not UTF-8 text (byte 0x{byte:02x} at character "
                f"{undecoded + 1}); it was skipped[/]",
                markup=True,
            )
            continue
        if line.startswith(":"):
            next_id = _command(line, wm, session_id, tools)
            if next_id is None:
                break
            session_id = next_id
            continue
        try:
            action = parse_action(line, tools)
        except WmhError as exc:
            console.print(f"[red]{escape(str(exc))}[/]", markup=True)
            continue
        try:
            observation = wm.step(session_id, action)
        except InputError as exc:  # an action no session can hold: the session goes on
            console.print(f"[red]{escape(str(exc))}[/]", markup=True)
            continue
        _show(action, observation)
