"""Assemble the spans of one trace into ordered steps.

The same tool call can appear three times in a trace: in a chat span's output, as an `execute_tool`
span, and as a `tool` message in the next chat input. Calls are merged by call id (or, without ids,
by name in order), messages are deduplicated across the growing chat histories, and every step is
ordered by when its action first appeared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wmh.core.json_text import begins_json
from wmh.core.types import Action, ActionKind, Observation, Step
from wmh.ingest.genai import SpanFacts
from wmh.ingest.messages import Message, ToolCallPart, ToolResponsePart, WrappedArguments
from wmh.ingest.otlp import SpanRecord

Order = tuple[int, int, int]


@dataclass(slots=True)
class _Call:
    order: Order
    call_id: str
    name: str
    arguments: dict | None
    result: ToolResponsePart | None = None
    span_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Said:
    """A message placed in the transcript, with when it first appeared."""

    order: Order
    message: Message
    span_id: str


@dataclass(slots=True)
class AssembledTrace:
    steps: list[Step]
    unanswered_calls: int
    unanswered_messages: int
    task: str
    # Steps whose arguments were not a JSON object (kept as {"input": x}); `broken_arguments`
    # of them were text that began as JSON and did not parse.
    wrapped_arguments: int = 0
    broken_arguments: int = 0
    # Answered tool calls that name no tool (an empty or missing name): no step can hold them.
    nameless_calls: int = 0


def _another_call(known: _Call, part: ToolCallPart, replayed: bool) -> bool:
    """Whether a call under an id already answered is another call, not the same one seen
    again: it asks with other arguments. Servers that number calls per response give every
    turn's call the same id, and merged, all but the first were lost. A `replayed` copy (a
    chat input repeating the history) whose arguments are the known call's cut short (an
    exporter's attribute limit) is that call: taken for another, the tool's answer made a
    second step of it. (A new request cut short is another call: it may share its start.)"""
    return (
        known.result is not None
        and known.arguments is not None
        and part.arguments is not None
        and part.arguments != known.arguments
        and not (replayed and _cut_short(part.arguments, known.arguments))
    )


def _cut_short(arguments: dict | None, full: dict | None) -> bool:
    """Whether `arguments` are `full` cut short: text that began as JSON and did not parse
    (`WrappedArguments.broken`), whose tokens begin `full`'s (`begins_json`: strings by what
    they say, numbers by value, so `0.50` or `\\/` written by the model still match)."""
    if not isinstance(arguments, WrappedArguments) or not arguments.broken:
        return False
    text = arguments.get("input")
    if not isinstance(text, str) or full is None or isinstance(full, WrappedArguments):
        return False
    return begins_json(text, full)


def _has_cut_call(message: Message) -> bool:
    return any(
        isinstance(c.arguments, WrappedArguments) and c.arguments.broken for c in message.tool_calls
    )


def _loose_print(message: Message) -> str:
    """A message's fingerprint without its calls' arguments: two copies of one message whose
    arguments one of them holds cut short have the same."""
    return Message(
        message.role,
        message.text,
        [ToolCallPart(c.call_id, c.name, None) for c in message.tool_calls],
        message.tool_responses,
    ).fingerprint()


def _same_call_parts(mine: Message, theirs: Message) -> bool:
    """Whether two messages of equal loose prints call with the same arguments, one copy's
    cut short allowed."""
    return all(
        a.arguments == b.arguments
        or _cut_short(a.arguments, b.arguments)
        or _cut_short(b.arguments, a.arguments)
        for a, b in zip(mine.tool_calls, theirs.tool_calls, strict=True)
    )


class TraceAssembler:
    """Collects the facts of one trace's spans, then emits its steps."""

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self._calls: list[_Call] = []
        self._by_id: dict[str, _Call] = {}
        self._transcript: list[_Said] = []
        self._fingerprints: list[str] = []
        self._loose: list[str] = []  # `_loose_print` of each transcript message
        self._cut_said = False  # whether a transcript message holds a call's arguments cut
        self._seq = 0
        self.unanswered_messages = 0

    def _next(self, time_ns: int) -> Order:
        self._seq += 1
        return (time_ns, 0, self._seq)

    def add(self, span: SpanRecord, facts: SpanFacts) -> None:
        """Feed spans in time order."""
        if facts.input_messages:
            self._extend_transcript(facts.input_messages, span.start_ns, span.span_id, merge=True)
        if facts.tool_call is not None:
            self._add_call(facts.tool_call, self._next(span.start_ns), span.span_id)
        if facts.tool_result is not None:
            self._add_result(facts.tool_result, facts.tool_call, span.span_id)
        if facts.output_messages:
            self._extend_transcript(facts.output_messages, span.end_ns, span.span_id, merge=False)

    def _extend_transcript(
        self, messages: list[Message], time_ns: int, span_id: str, merge: bool
    ) -> None:
        messages = [m for m in messages if m.role != "system"]
        prints = [m.fingerprint() for m in messages]
        start = self._overlap(messages, prints) if merge else 0
        if not merge and self._fingerprints and prints[:1] == self._fingerprints[-1:]:
            start = 1
        for message, fp in zip(messages[start:], prints[start:], strict=True):
            said = _Said(self._next(time_ns), message, span_id)
            self._transcript.append(said)
            self._fingerprints.append(fp)
            self._loose.append(_loose_print(message))
            self._cut_said = self._cut_said or _has_cut_call(message)
            for call in message.tool_calls:
                self._add_call(call, said.order, span_id, replayed=merge)
            for response in message.tool_responses:
                self._add_result(response, None, span_id)

    def _overlap(self, messages: list[Message], prints: list[str]) -> int:
        """How many leading messages of a chat input the transcript already holds: the same
        messages, or the same but for a call's arguments one of the two copies holds cut
        short (an exporter's attribute limit). Such a copy taken for a new message, the whole
        input was added again: its exchanges made steps again, and its calls did under reused
        ids or without ids."""
        known = self._fingerprints
        if not known:
            return 0
        if prints[: len(known)] == known:
            return len(known)
        loose: list[str] | None = None
        for size in range(min(len(known), len(prints)), 0, -1):
            if known[-size:] == prints[:size]:
                return size
            if loose is None:
                if not any(_has_cut_call(m) for m in messages) and not self._cut_said:
                    loose = []  # (no copy is cut: only the exact comparison can match)
                else:
                    loose = [_loose_print(m) for m in messages]
            if (
                loose
                and self._loose[-size:] == loose[:size]
                and self._adopt(messages, prints, size)
            ):
                return size
        return 0

    def _adopt(self, messages: list[Message], prints: list[str], size: int) -> bool:
        """Whether the input's first `size` messages (of loose prints equal to the
        transcript's last ones) are those messages, a call's arguments cut short in one of each
        pair at most; if so, the transcript takes the whole arguments, and the input's prints
        (a later input repeats them)."""
        start = len(self._transcript) - size
        differ = [at for at in range(size) if self._fingerprints[start + at] != prints[at]]
        said = self._transcript
        if not all(_same_call_parts(said[start + at].message, messages[at]) for at in differ):
            return False
        for at in differ:
            mine, theirs = said[start + at].message, messages[at]
            for part, other in zip(mine.tool_calls, theirs.tool_calls, strict=True):
                if _cut_short(part.arguments, other.arguments):
                    self._whole_arguments(part, other.arguments)
            self._fingerprints[start + at] = prints[at]
        return True

    def _whole_arguments(self, part: ToolCallPart, whole: dict | None) -> None:
        """A call the transcript holds cut short takes its whole arguments (its message's
        part, and the call made of it, unless another span has given it them)."""
        for call in self._calls:
            if call.arguments is part.arguments:
                call.arguments = whole
        part.arguments = whole

    def _add_call(
        self, part: ToolCallPart, order: Order, span_id: str, replayed: bool = False
    ) -> None:
        existing = self._by_id.get(part.call_id) if part.call_id else None
        if existing is not None and _another_call(existing, part, replayed):
            existing = None  # the id is reused (call_0 every turn): a call of its own
        if existing is None and not part.call_id:
            open_calls = [
                c
                for c in self._calls
                if c.result is None and c.name == part.name and span_id not in c.span_ids
            ]
            existing = next(
                (
                    c
                    for c in open_calls
                    if part.arguments is None or c.arguments in (None, part.arguments)
                ),
                None,
            )
            if existing is None:  # one recording cut short: the one open call it can be
                cut = [
                    c
                    for c in open_calls
                    if _cut_short(c.arguments, part.arguments)
                    or _cut_short(part.arguments, c.arguments)
                ]
                existing = cut[0] if len(cut) == 1 else None
        if existing is not None:
            if existing.arguments is None or _cut_short(existing.arguments, part.arguments):
                existing.arguments = part.arguments  # (the whole of what one span cut short)
            if not existing.name.strip():  # a name another span of the call gave
                existing.name = part.name
            existing.order = min(existing.order, order)
            if span_id not in existing.span_ids:
                existing.span_ids.append(span_id)
            return
        call = _Call(order, part.call_id, part.name, part.arguments, span_ids=[span_id])
        self._calls.append(call)
        if part.call_id:
            self._by_id[part.call_id] = call

    def _add_result(
        self, result: ToolResponsePart, own_call: ToolCallPart | None, span_id: str
    ) -> None:
        call = self._by_id.get(result.call_id) if result.call_id else None
        if call is None and own_call is not None:
            # A tool span's result is its own call's: the one the span just joined (by its
            # arguments), even when an earlier call of the tool is still unanswered.
            call = next(
                (c for c in self._calls if c.result is None and span_id in c.span_ids), None
            )
        if call is None:
            name = own_call.name if own_call else None
            call = next(
                (
                    c
                    for c in self._calls
                    if c.result is None
                    and (span_id in c.span_ids or name is None or c.name == name)
                ),
                None,
            )
        if call is None:
            return
        if call.result is None:
            call.result = result
        elif result.is_error and not call.result.is_error:
            call.result.is_error = True
        if span_id not in call.span_ids:
            call.span_ids.append(span_id)

    def _task(self) -> str:
        return next(
            (
                s.message.text
                for s in self._transcript
                if s.message.role == "user" and s.message.text
            ),
            "",
        )

    def _message_steps(self) -> list[tuple[Order, Action, Observation, list[str]]]:
        """Agent messages answered by the user; unanswered ones (final answers) are counted."""
        found = []
        self.unanswered_messages = 0
        said = self._transcript
        for i, item in enumerate(said):
            msg = item.message
            if msg.role != "assistant" or msg.tool_calls or not msg.text:
                continue
            reply = next(
                (s for s in said[i + 1 :] if s.message.role in ("user", "assistant")), None
            )
            if reply is None or reply.message.role != "user":
                self.unanswered_messages += 1
                continue
            action = Action(kind=ActionKind.MESSAGE, content=msg.text)
            found.append(
                (
                    item.order,
                    action,
                    Observation(content=reply.message.text),
                    [item.span_id, reply.span_id],
                )
            )
        return found

    def finish(self) -> AssembledTrace:
        """The trace's steps, ordered by when each action first appeared."""
        rows = []
        unanswered = wrapped = broken = nameless = 0
        for call in self._calls:
            if call.result is None:
                unanswered += 1
                continue
            if not call.name.strip():  # no action to key a recording by
                nameless += 1
                continue
            if isinstance(call.arguments, WrappedArguments):
                wrapped += 1
                broken += call.arguments.broken
            metadata = {"tool_call_id": call.call_id} if call.call_id else {}
            action = Action(
                kind=ActionKind.TOOL_CALL, name=call.name, arguments=call.arguments or {}
            )
            observation = Observation(
                content=call.result.content, is_error=call.result.is_error, metadata=metadata
            )
            rows.append((call.order, action, observation, call.span_ids))
        rows.extend(self._message_steps())
        rows.sort(key=lambda row: row[0])
        task = self._task()
        steps = [
            Step(
                action=action,
                observation=obs,
                task=task,
                trace_id=self.trace_id,
                index=i,
                raw_span_ids=list(span_ids),
            )
            for i, (_, action, obs, span_ids) in enumerate(rows)
        ]
        return AssembledTrace(
            steps=steps,
            unanswered_calls=unanswered,
            unanswered_messages=self.unanswered_messages,
            task=task,
            wrapped_arguments=wrapped,
            broken_arguments=broken,
            nameless_calls=nameless,
        )
