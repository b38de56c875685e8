"""What a call prints for certain: the literal text of its unconditional `echo`s and top-level
Python `print("...")`s, read from its arguments without running anything.

A recorded answer to a like call printed the recorded call's literals, not the current call's:
`cd /testbed && python - <<'EOF' ... EOF; echo "done"` recorded, `...; echo "thinking"` asked.
Those lines are swapped for the current call's (by order), a literal the recorded call printed and
the current one does not is dropped, and one the current call prints and the answer lacks is
added (before the rest when the call prints it first, else after). Only what is certain is read:
an `echo` whose words hold no expansion (`$`, backticks, globs), not redirected or piped, not
inside a loop or `if`, not one of `a && echo X || echo Y`; a `print` of string literals at the top
level of a Python program (a tool's code argument, `python - <<EOF`, `python -c`).
"""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

# A top-level `print` of string literals alone (no f-string, no format, no keyword arguments).
_STRING = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
_PRINT = re.compile(rf"^print\(\s*({_STRING}(?:\s*,\s*{_STRING})*)\s*,?\s*\)\s*(?:#.*)?$", re.M)
_ONE_STRING = re.compile(_STRING)
# A here-document: its operator, its delimiter (quoted or not) and where its body starts.
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][\w-]*)\1")
_PYTHON = re.compile(r"(?:^|[\s;&|(/])python(?:3(?:\.\d+)?)?(?:\s+-[uBIE]+)*(?:\s+-)?\s*$")
_SEPARATORS = {";", "\n", "&&", "||", "|", "(", ")", "{", "}", "&", ";;"}
_OPENERS = {"for", "while", "until", "if", "case", "select"}
_CLOSERS = {"done", "fi", "esac"}
_STARTERS = {"then", "do", "else", "elif", "!"}
_INTERPRETER = re.compile(r"(?:\S*/)?python(?:3(?:\.\d+)?)?")
MAX_ONE_LINER = 4_000
_ONE_LINER = re.compile(r"python\S*\s+(?:-\w+\s+)*-c\b")
_OPERATOR_CHARS = set(";&|(){}<>\n")
# Longer texts are not read (a step's cost stays bounded; no such call prints only literals).
MAX_TEXT = 20_000


def printed_literals(arguments: dict[str, Any]) -> tuple[str, ...]:
    """The lines a call's string arguments print for certain, in order."""
    out: list[str] = []
    for value in arguments.values():
        if isinstance(value, str) and value and len(value) <= MAX_TEXT:
            out.extend(_literals_of(value))
    return tuple(out)


@lru_cache(maxsize=4096)
def _literals_of(text: str) -> tuple[str, ...]:
    if "print" not in text and "echo" not in text:
        return ()
    shell, programs = _without_heredocs(text)
    one_liner = _ONE_LINER.search(shell) is not None
    if programs and "echo" not in shell and not one_liner:
        # Python here-documents alone (the shell around them prints nothing of its own).
        return tuple(line for program in programs for line in _python_prints(program))
    if programs or "echo" in shell or one_liner:
        return tuple(_shell_literals(shell, programs))
    # Not a shell command that prints: a program (a tool's code argument), at its top level.
    return tuple(_python_prints(shell))


_PROGRAM = "__wmh_program_{}__"


def _without_heredocs(text: str) -> tuple[str, list[str]]:
    """The shell text with every here-document's body taken out, and the bodies fed to Python,
    whose prints are read (each marked in the shell text, where it runs, by a `_PROGRAM` word)."""
    shell: list[str] = []
    programs: list[str] = []
    at = 0
    while True:
        match = _HEREDOC.search(text, at)
        if match is None:
            break
        line_end = text.find("\n", match.end())
        if line_end < 0:
            break
        delimiter = match.group(2)
        end = re.compile(rf"^\s*{re.escape(delimiter)}\s*$", re.M).search(text, line_end + 1)
        body_end = end.start() if end else len(text)
        shell.append(text[at:line_end])
        line_start = text.rfind("\n", 0, match.start()) + 1
        command = text[line_start : match.start()]
        after = text[match.end() : line_end]
        if _PYTHON.search(command) and ">" not in after and "|" not in after:
            shell.append(" " + _PROGRAM.format(len(programs)))
            programs.append(text[line_end + 1 : body_end])
        at = end.end() if end else len(text)
    shell.append(text[at:])
    return "".join(shell), programs


def _python_prints(program: str) -> list[str]:
    lines = []
    for match in _PRINT.finditer(program):
        try:
            parts = [_unquote(s) for s in _ONE_STRING.findall(match.group(1))]
        except ValueError:
            continue
        lines.append(" ".join(parts))
    return lines


# A shell token: a newline, an operator, or a word of unquoted, '...' and "..." parts.
_SHELL_TOKEN = re.compile(
    r"""[ \t\r]*(?:(\n)|(&&|\|\||;;|>>|>&|<&|&>|<<|[;&|(){}<>])"""
    r"""|((?:[^\s;&|(){}<>"'\\]|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+))"""
)
_WORD_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^"'\\]+)""", re.S)
# What makes a word's value uncertain: an expansion, or (unquoted) a glob or tilde.
_EXPANDS = re.compile(r"[$`]")
_GLOBS = re.compile(r"[*?\[~]")


def _shell_tokens(shell: str) -> list[str] | None:
    """The shell text's tokens as the shell reads them (quotes taken off); a word whose value
    is not certain is `$`. None for text that is not whole (an unclosed quote)."""
    tokens: list[str] = []
    at = 0
    end = len(shell.rstrip(" \t\r"))
    while at < end:
        match = _SHELL_TOKEN.match(shell, at)
        if match is None or match.end() == at:
            return None
        at = match.end()
        newline, operator, word = match.groups()
        if word is None:
            tokens.append(newline or operator)
            continue
        value: list[str] = []
        certain = True
        for single, double, escaped, bare in _WORD_PART.findall(word):
            if bare:
                certain = certain and not _EXPANDS.search(bare) and not _GLOBS.search(bare)
                value.append(bare)
            elif escaped:
                value.append(escaped)
            elif double:
                certain = certain and not _EXPANDS.search(double)
                value.append(re.sub(r'\\([\\"$`\n])', r"\1", double))
            else:
                value.append(single)
        tokens.append("".join(value) if certain else "$")
    return tokens


_COMPOUND = re.compile(r"(?:if|elif|else|for|while|with|def|class|try|except|finally|async)\b")


def _one_liner_prints(code: str) -> list[str]:
    """`python -c CODE`'s top-level prints of string literals, `import x; print("a")` too (a
    line opening a block, `for ...: print("a")`, holds none at the top level)."""
    if len(code) > MAX_ONE_LINER or "print" not in code:
        return []
    pieces = [
        piece.strip()
        for line in code.split("\n")
        if line and not line[0].isspace() and not _COMPOUND.match(line)
        for piece in line.split(";")
    ]
    return _python_prints("\n".join(pieces))


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if "\\" in body:
        if not re.fullmatch(r"(?:[^\\]|\\[\\'\"])*", body):
            raise ValueError(literal)  # an escape other than a quote or backslash: not read
        body = re.sub(r"\\(.)", r"\1", body)
    return body


def _shell_literals(shell: str, programs: list[str]) -> list[str]:
    """The lines of each unconditional, unredirected, unpiped `echo` of literal words, and of
    each Python here-document run so (`programs`), in order."""
    tokens = _shell_tokens(shell)
    if tokens is None:  # an unclosed quote: nothing is certain
        return []
    out: list[str] = []
    depth = 0
    groups: list[int] = []  # where each open ( or { group's literals start in `out`
    previous = "\n"
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("__wmh_program_") and depth == 0:
            number = token[len("__wmh_program_") : -2]
            if number.isdigit() and int(number) < len(programs):
                out.extend(_python_prints(programs[int(number)]))
        if token in ("(", "{"):
            groups.append(len(out))
        elif token in (")", "}") and groups:
            start = groups.pop()
            if i + 1 < len(tokens) and tokens[i + 1] in ("|", ">", ">>", "&&", "||"):
                del out[start:]  # a group piped, redirected or tested: not printed as is
        command_start = previous in _SEPARATORS or previous in _STARTERS
        if command_start and depth == 0 and _INTERPRETER.fullmatch(token):
            j = i + 1
            while j < len(tokens) and not _operator(tokens[j]):
                j += 1
            words = tokens[i + 1 : j]
            ending = tokens[j] if j < len(tokens) else "\n"
            if "-c" in words[:-1] and ending not in ("|", "||") and not _redirect(ending):
                out.extend(_one_liner_prints(words[words.index("-c") + 1]))
            previous = tokens[j - 1] if j > i + 1 else token
            i = j
            continue
        if command_start and token in _OPENERS:
            depth += 1
        elif token in _CLOSERS:
            depth = max(0, depth - 1)
        elif command_start and token == "echo":
            j = i + 1
            while j < len(tokens) and not _operator(tokens[j]):
                j += 1
            words = tokens[i + 1 : j]
            ending = tokens[j] if j < len(tokens) else "\n"
            newline = True
            if words and re.fullmatch(r"-[neE]+", words[0]):  # echo's own options
                words, newline = words[1:], "n" not in words[0] and "e" not in words[0]
            if (
                depth == 0
                and previous not in ("||", "|")
                and ending not in ("|", "||", "&")
                and not _redirect(ending)
                and words
                and "$" not in words
                and newline
            ):
                out.append(" ".join(words))
            previous = tokens[j - 1] if j > i + 1 else token
            i = j
            continue
        previous = token
        i += 1
    return out


def _operator(token: str) -> bool:
    return bool(token) and set(token) <= _OPERATOR_CHARS


def _redirect(token: str) -> bool:
    return "<" in token or ">" in token


def with_printed(
    content: str, recorded: dict[str, Any], current: dict[str, Any]
) -> tuple[str, list[tuple[str, str]]]:
    """A recorded answer with the recorded call's printed literals swapped for the current
    call's, and the lines changed (old, new; "" for none). The two calls' literals are aligned
    in order: a literal in place of another is swapped on its line, one the recorded call
    printed alone is dropped, and one the current call prints alone goes before the line of
    the next recorded literal (with none in the answer: first when the call prints it before
    anything else, else last)."""
    new, old = printed_literals(current), printed_literals(recorded)
    if old == new or _is_json(content):  # (a JSON answer's lines are not what was printed)
        return content, []
    lines = content.split("\n")
    at = _lines_of(lines, old)  # the answer's line of each recorded literal (None: not there)
    edits: dict[int, list[str]] = {}  # line -> the lines in its place
    before: dict[int, list[str]] = {}  # line -> lines to put before it
    head: list[str] = []
    tail: list[str] = []
    changed: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)  # the first of each side in place of each other
        added: list[str] = []
        for k in range(i1, i2):
            replacement = new[j1 + k - i1] if k - i1 < paired else ""
            where = at[k]
            if where is None:
                if replacement:
                    added.append(replacement)
                continue
            edits[where] = [replacement] if replacement else []
            changed.append((old[k], replacement))
        added += new[j1 + paired : j2]
        if not added:
            continue
        changed.extend(("", line) for line in added)
        following = next((at[k] for k in range(i1 + paired, len(old)) if at[k] is not None), None)
        if following is not None:
            before.setdefault(following, []).extend(added)
        elif j1 + paired == 0 and _first_output(current):
            head.extend(added)
        else:
            tail.extend(added)
    out = list(head)
    for number, line in enumerate(lines):
        out.extend(before.get(number, []))
        out.extend(edits.get(number, [line]))
    if tail:
        if out and out[-1] == "":  # an answer ending in a newline keeps it last
            out[-1:] = [*tail, ""]
        else:
            out.extend(tail)
    return "\n".join(out), changed


def _is_json(content: str) -> bool:
    stripped = content.strip()
    if stripped[:1] not in ("{", "["):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _lines_of(lines: list[str], literals: tuple[str, ...]) -> list[int | None]:
    """The line of each literal in order (the first matching line after the previous one)."""
    at: list[int | None] = []
    start = 0
    for literal in literals:
        found = next((n for n in range(start, len(lines)) if lines[n].strip() == literal), None)
        at.append(found)
        if found is not None:
            start = found + 1
    return at


def _first_output(arguments: dict[str, Any]) -> bool:
    """Whether the call prints its first literal before anything else runs (an `echo` first,
    after `cd`s at most)."""
    for value in arguments.values():
        if isinstance(value, str) and "echo" in value:
            head = re.split(r"\becho\b", value, maxsplit=1)[0]
            steps = [s.strip() for s in re.split(r"&&|;|\n", head) if s.strip()]
            return all(s.startswith("cd ") for s in steps)
    return False
