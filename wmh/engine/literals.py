"""What a call prints for certain: the literal text of its unconditional `echo`s and top-level
Python `print("...")`s, read from its arguments without running anything.

A recorded answer to a like call printed the recorded call's literals, not the current call's:
`cd /testbed && python - <<'EOF' ... EOF; echo "done"` recorded, `...; echo "thinking"` asked.
The two calls' literals are aligned in order: a line in place of another is swapped, a line the
recorded call printed alone is dropped, and one the current call prints alone is added. Only what
is certain is read, and anything this reader cannot follow reads as nothing:
- an `echo` of literal words (no `$`, backticks, globs or braces), not redirected, piped or put
  in the background, not inside a loop, `if`, `case`, function, `$(...)` or `<(...)`, not after
  `||` nor after an `&&` whose command may fail (only `cd`, `echo`, `export`, `true`, `:` and a
  Python program are taken as succeeding), and not after an `exit`, `exec` or `set -e`;
- a `print` of string literals alone at the top level of a Python program (a quoted
  here-document fed to `python -`, `python -c`, or a code argument that is a program), before
  any top-level `sys.exit`, `exit`, `quit` or `raise`, and outside a triple-quoted string.
Whether a tool prints what its calls say at all (a shell does; an editor given a file's text
does not) is the build's to tell, from its recordings (`printing_tools`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

from wmh.core.memo import text_cache

# Longer texts are not read (a step's cost stays bounded; no such call prints only literals).
MAX_TEXT = 20_000
MAX_SHELL = 1_000  # the shell text, here-document bodies taken out
MAX_PROGRAM = 8_000  # a program whose prints are read
MAX_ANSWER = 200_000  # a longer answer is left as it is
MAX_LINE = 1_000  # a line of a program

# A `print` of string literals alone (no f-string, no format, no keyword arguments).
_STRING = r"""(?:"(?:[^"\\\n]|\\.)*+"|'(?:[^'\\\n]|\\.)*+')"""
_PRINT = re.compile(rf"print\(\s*+({_STRING}(?:\s*+,\s*+{_STRING})*+)\s*+,?+\s*+\)\s*+(?:#.*)?+")
_ONE_STRING = re.compile(_STRING)
_STOPS = re.compile(r"(?:sys\.exit|exit|quit|os\._exit)\s*\(|raise\b")
# A here-document operator (not `<<<`) and its delimiter: quoted, backslashed or bare.
_HEREDOC = re.compile(
    r"""(?<!<)<<(?!<)(-?)[ \t]*(?:'([^'\n]*)'|"([^"\n]*)"|(\\?)([^\s;&|()<>'"\\]+))"""
)
_PYTHON = re.compile(r"(?:\S*/)?python(?:3(?:\.\d+)?)?(?:\s+-[uBIEs]+)*(?:\s+-)?")
_INTERPRETER = re.compile(r"(?:\S*/)?python(?:3(?:\.\d+)?)?")
_SEPARATORS = {";", "\n", "&&", "||", "|", "|&", "(", ")", "$(", "<(", ">(", "&", ";;", "{", "}"}
_OPENERS = {"for", "while", "until", "if", "case", "select"}
_CLOSERS = {"done", "fi", "esac"}
_STARTERS = {"then", "do", "else", "elif", "!", "in"}
# After `&&`, the commands taken as succeeding (an echo after another may not run).
_SUCCEEDING = {"cd", "echo", "export", "true", ":", "<py>"}
_MARK = "__wmh_program_"  # a word naming the here-document program a command runs
_PROGRAM = _MARK + "{}__"


def printed_literals(arguments: dict[str, Any]) -> tuple[str, ...]:
    """The lines a call's string arguments print for certain, in order (empty lines left out:
    which blank line of an answer one is cannot be told)."""
    out: list[str] = []
    for value in arguments.values():
        if isinstance(value, str) and value and len(value) <= MAX_TEXT:
            out.extend(_literals_of(value))
    return tuple(out)


@text_cache(entries=4096, chars=2_000_000)
def _literals_of(text: str) -> tuple[str, ...]:
    if "print" not in text and "echo" not in text:
        return ()
    parsed = _without_heredocs(text) if "<<" in text else (text, [])
    if parsed is None:
        return ()
    shell, programs = parsed
    if programs or "echo" in shell or ("python" in shell and "-c" in shell):
        if len(shell) > MAX_SHELL:
            return ()
        lines = _shell_literals(shell, programs)
    elif shell is text:  # not a shell command: a program (a tool's code argument)
        lines = _python_prints(text) if len(text) <= MAX_PROGRAM else []
    else:  # a shell command whose here-documents print nothing of their own
        return ()
    return tuple(line for line in lines if line)


def _without_heredocs(text: str) -> tuple[str, list[str]] | None:
    """The shell text with every here-document's body taken out, and the bodies a Python
    interpreter reads as its program (each marked in the shell text, where it runs, by a
    `_PROGRAM` word). None when a `<<` cannot be followed (no delimiter, no end line)."""
    lines = text.split("\n")
    shell: list[str] = []
    programs: list[str] = []
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if "<<" not in line:
            shell.append(line)
            continue
        operators = list(_HEREDOC.finditer(line))
        if line.count("<<") - line.count("<<<") != len(operators):
            return None  # a `<<` this reader cannot follow
        markers: list[tuple[re.Match[str], str]] = []
        for operator in operators:  # their bodies follow the line, one after another
            delimiter = next(g for g in operator.group(2, 3, 5) if g is not None)
            if not delimiter:
                return None
            quoted = operator.group(5) is None or operator.group(4) == "\\"
            tabs = operator.group(1) == "-"
            body: list[str] = []
            while True:
                if number >= len(lines):
                    return None  # no end line: where the command goes on is not known
                candidate = lines[number]
                number += 1
                if (candidate.lstrip("\t") if tabs else candidate) == delimiter:
                    break
                body.append(candidate)
            # (Unquoted, the shell expands `$`, backticks and backslashes in it first.)
            expanded = not quoted and any(re.search(r"[$`\\]", b) for b in body)
            if _feeds_python(line, operator) and not expanded:
                # The operator gives way to a word naming the program its command runs.
                markers.append((operator, " " + _PROGRAM.format(len(programs)) + " "))
                programs.append("\n".join(body))
            else:
                markers.append((operator, " "))
        for operator, marker in reversed(markers):
            line = line[: operator.start()] + marker + line[operator.end() :]
        shell.append(line)
    return "\n".join(shell), programs


def _feeds_python(line: str, operator: re.Match[str]) -> bool:
    """Whether the here-document is a Python interpreter's program whose output is the
    command's own (not redirected to a file, not piped)."""
    command = re.split(r"&&|\|\||[;|(]", line[: operator.start()])[-1].strip()
    rest = re.split(r"&&|\|\||;", line[operator.end() :])[0]
    if _PYTHON.fullmatch(command) is None:
        return False
    return "|" not in rest and re.search(r"(?<![0-9&])>|1>|&>", rest) is None


def _python_prints(program: str) -> list[str]:
    """The top-level prints of string literals alone of a program, until a top-level exit."""
    out: list[str] = []
    in_string = ""
    for line in program.split("\n"):
        if in_string:
            if line.count(in_string) % 2:
                in_string = ""
            continue
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                in_string = quote
        if in_string or not line or line[0].isspace():
            continue
        if _STOPS.match(line):
            break
        if len(line) > MAX_LINE or not line.startswith("print("):
            continue
        match = _PRINT.fullmatch(line.rstrip())
        if match is None:
            continue
        try:
            parts = [_unquote(s) for s in _ONE_STRING.findall(match.group(1))]
        except ValueError:
            continue
        out.append(" ".join(parts))
    return out


def _one_liner_prints(code: str) -> list[str]:
    """`python -c CODE`'s top-level prints of string literals, `import x; print("a")` too (a
    line opening a block, `for ...: print("a")`, holds none at the top level)."""
    if len(code) > MAX_SHELL or "print" not in code or "'''" in code or '"""' in code:
        return []
    statements: list[str] = []
    for line in code.split("\n"):
        if not line or line[0].isspace():
            continue
        parts = _statements(line)
        if parts is None or re.match(
            r"(?:if|elif|else|for|while|with|def|class|try|except|finally|async)\b", line
        ):
            continue
        statements.extend(parts)
    return _python_prints("\n".join(statements))


def _statements(line: str) -> list[str] | None:
    """A line's statements, split at the `;`s outside strings (None: a string left open)."""
    out: list[str] = []
    quote = ""
    start = 0
    at = 0
    while at < len(line):
        char = line[at]
        if quote:
            if char == "\\":
                at += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ";":
            out.append(line[start:at].strip())
            start = at + 1
        elif char == "#":
            break
        at += 1
    if quote:
        return None
    out.append(line[start:at].strip())
    return [part for part in out if part]


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if "\\" in body:
        if not re.fullmatch(r"(?:[^\\]|\\[\\'\"])*", body):
            raise ValueError(literal)  # an escape other than a quote or backslash: not read
        body = re.sub(r"\\(.)", r"\1", body)
    return body


# A shell token: a newline, an operator, a comment, or a word of unquoted, '...' and "..."
# parts (a `$(`, `<(` or `>(` opens a group whose output is captured, not printed).
_SHELL_TOKEN = re.compile(
    r"""[ \t\r]*+(?:(\n)|(&&|\|\||\|&|;;|>>|>&|<&|&>|<<|\$\(|[<>]\(|[;&|()<>])|(#[^\n]*+)"""
    r"""|((?:[^\s;&|()<>"'\\$]|\$(?!\()|\\.|"(?:[^"\\]|\\.)*+"|'[^']*+')++))"""
)
_WORD_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^"'\\]+)""", re.S)
# What makes a word's value uncertain: an expansion; unquoted, a glob, tilde or brace.
_EXPANDS = re.compile(r"[$`]")
_GLOBS = re.compile(r"[*?\[~{}]")


def _shell_tokens(shell: str) -> list[str] | None:
    """The shell text's tokens as the shell reads them (quotes taken off, comments left out);
    a word whose value is not certain is `$`. None for text that is not whole (an unclosed
    quote)."""
    tokens: list[str] = []
    at = 0
    end = len(shell.rstrip(" \t\r"))
    while at < end:
        match = _SHELL_TOKEN.match(shell, at)
        if match is None or match.end() == at:
            return None
        at = match.end()
        newline, operator, comment, word = match.groups()
        if comment is not None:
            continue
        if word is None:
            tokens.append(newline or operator)
            continue
        if word in ("{", "}"):
            tokens.append(word)
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
        text = "".join(value)
        # (A quoted `{` or `;` is a word, never an operator: it is not read as one.)
        tokens.append(text if certain and not _operator(text) else "$")
    return tokens


def _operator(token: str) -> bool:
    return token in _SEPARATORS or token in ("<", ">", ">>", ">&", "<&", "&>", "<<", ";;")


def _redirect(token: str) -> bool:
    return "<" in token or ">" in token


def _shell_literals(shell: str, programs: list[str]) -> list[str]:
    """The lines of each certain `echo`, and of each Python here-document run so (`programs`),
    in order (see the module's doc for what is certain). An and-or list is followed: after an
    `&&` only commands taken as succeeding (`_SUCCEEDING`) keep what comes certain, after an
    `||` nothing is; an `exit`, `exec` or `set -e` ends the reading."""
    if "`" in shell:  # a command substitution this reader does not follow
        return []
    tokens = _shell_tokens(shell)
    if tokens is None:  # an unclosed quote: nothing is certain
        return []
    out: list[str] = []
    depth = 0  # loops, ifs and cases open
    groups: list[tuple[int, bool]] = []  # each open group: where its lines start, uncertain
    function = False  # the next group is a function's body
    previous = "\n"
    chain = True  # whether the and-or list so far runs its next command for certain
    command = ""  # the current simple command's name
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "\n" and previous in ("&&", "||", "|", "|&"):
            i += 1  # the list goes on on the next line
            continue
        command_start = previous in _SEPARATORS or previous in _STARTERS
        if token in ("(", "$(", "<(", ">(", "{"):
            if token == "(" and i + 1 < len(tokens) and tokens[i + 1] == ")" and command:
                function = True  # name () { ...; }: a definition, not a run
                i += 2
                previous = ")"
                continue
            parent = groups[-1][1] if groups else False
            uncertain = parent or function or token not in ("(", "{") or not chain
            function = False
            groups.append((len(out), uncertain))
        elif token in (")", "}") and groups:
            start, uncertain = groups.pop()
            if uncertain or not _group_printed(tokens, i + 1):
                del out[start:]  # captured, piped, redirected, tested or not run for certain
        elif command_start and token == "function":
            function = True
        elif command_start and token in _OPENERS:
            depth += 1
        elif command_start and token in _CLOSERS:
            depth = max(0, depth - 1)
        elif command_start and token in ("exit", "exec", "return"):
            return out[: groups[0][0]] if groups else out  # what comes after may not run
        elif command_start and not _operator(token):
            j = i + 1
            while j < len(tokens) and not _operator(tokens[j]):
                j += 1
            words = tokens[i + 1 : j]
            ending = tokens[j] if j < len(tokens) else "\n"
            certain = (
                depth == 0
                and chain
                and previous not in ("|", "|&")
                and ending not in ("|", "|&", "&")
                and not _redirect(ending)
                and not (groups and groups[-1][1])
            )
            if token == "set" and any(re.fullmatch(r"-\w*e\w*", w) for w in words):
                return out  # errexit: any command after may end the run
            programs_run = [w for w in words if w.startswith(_MARK)]
            if programs_run and _INTERPRETER.fullmatch(token):
                if certain:
                    for word in programs_run:
                        number = word[len(_MARK) : -2]
                        if number.isdigit() and int(number) < len(programs):
                            program = programs[int(number)]
                            if len(program) <= MAX_PROGRAM:
                                out.extend(_python_prints(program))
                token = "<py>"
            elif token == "echo" and certain:
                out.extend(_echoed(words))
            elif _INTERPRETER.fullmatch(token) and certain and "-c" in words[:-1]:
                at = words.index("-c")
                if all(w.startswith("-") for w in words[:at]):
                    out.extend(_one_liner_prints(words[at + 1]))
            command = token
            previous = tokens[j - 1] if j > i + 1 else token
            i = j
            continue
        if token == "&&":
            chain = chain and command in _SUCCEEDING
        elif token in ("||", "|", "|&"):
            chain = False if token == "||" else chain
        elif token in (";", "\n", "&", ";;"):
            chain = True
            command = ""
        previous = token
        i += 1
    return out


def _group_printed(tokens: list[str], at: int) -> bool:
    """Whether a group closing before `at` prints to the command's output as is: not piped,
    redirected, put in the background or tested, up to the end of its command."""
    while at < len(tokens) and tokens[at] not in (";", "\n", ")", "}", ";;"):
        token = tokens[at]
        if token in ("|", "|&", "&", "&&", "||") or _redirect(token):
            return False
        at += 1
    return True


def _echoed(words: list[str]) -> list[str]:
    """What `echo WORDS` prints, if certain (no `-n`, no `-e` escapes)."""
    newline, escapes = True, False
    while words and re.fullmatch(r"-[neE]+", words[0]):
        newline = newline and "n" not in words[0]
        escapes = escapes or "e" in words[0].replace("E", "")
        words = words[1:]
    # (`echo = True` is a Python assignment in a program, not a command.)
    if not words or not newline or "$" in words or re.fullmatch(r"[-+*/%|&]?=", words[0]):
        return []
    text = " ".join(words)
    if (escapes and "\\" in text) or "\n" in text or "__wmh_" in text:
        return []
    return [text]


def printing_tools(steps: Iterable[tuple[str, dict[str, Any], str]]) -> dict[str, bool]:
    """Per tool, whether its recorded answers show what its calls print for certain: of its
    (tool, arguments, answer) steps whose call prints a literal, at least half show one of
    them as a line of the answer, and at least two do (an editor given a script's text, which
    prints nothing of it, does not)."""
    counts: dict[str, list[int]] = {}
    for tool, arguments, answer in steps:
        literals = printed_literals(arguments)
        if not literals:
            continue
        lines = set(answer.replace("\r\n", "\n").split("\n"))
        seen = counts.setdefault(tool, [0, 0])
        seen[0] += 1
        seen[1] += any(line in lines for line in literals)
    return {tool: shown >= 2 and 2 * shown >= total for tool, (total, shown) in counts.items()}


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
    if old == new or len(content) > MAX_ANSWER or _is_json(content):
        return content, []  # (a JSON answer's lines are not what was printed)
    newline = "\r\n" if "\r\n" in content else "\n"
    lines = content.split(newline) if content else []
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
        for k in range(i1, i2):
            replacement = new[j1 + k - i1] if k - i1 < paired else ""
            where = at[k]
            if where is None:  # the recorded run did not print it (it failed first?)
                continue
            edits[where] = [replacement] if replacement else []
            changed.append((old[k], replacement))
        added = list(new[j1 + paired : j2])  # the current call's alone, from place j1+paired
        if not added:
            continue
        changed.extend(("", line) for line in added)
        following = next((at[k] for k in range(i1 + paired, len(old)) if at[k] is not None), None)
        if following is not None:
            before.setdefault(following, []).extend(added)
        elif j1 + paired == 0 and _first_output(current, new[0]):
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
    return newline.join(out), changed


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
    """The line of each literal, in order: the last line equal to it before the next one's (a
    call's echo mostly ends or brackets its output, whose own lines may be like it)."""
    at: list[int | None] = [None] * len(literals)
    end = len(lines)
    for k in range(len(literals) - 1, -1, -1):
        found = next((n for n in range(end - 1, -1, -1) if lines[n] == literals[k]), None)
        at[k] = found
        if found is not None:
            end = found
    return at


def _first_output(arguments: dict[str, Any], literal: str) -> bool:
    """Whether the call prints `literal` before anything else runs: its first `echo`, after
    `cd`s at most, prints it."""
    for value in arguments.values():
        if isinstance(value, str) and "echo" in value:
            head, _, rest = value.partition("echo")
            steps = [s.strip() for s in re.split(r"&&|;|\n", head) if s.strip()]
            words = rest.lstrip()
            while re.match(r"-[neE]+\s", words):
                parts = words.split(None, 1)
                words = parts[1] if len(parts) > 1 else ""
            said = words.lstrip("'\"").startswith(literal[:40])
            return said and all(s.startswith("cd ") for s in steps)
    return False
