"""Capture a scripted terminal agent working in a real bash shell, as OTLP JSON GenAI traces.

A seeded policy (no LLM) plays everyday shell tasks (files, text processing, git, scripts, JSON)
with realistic slips, one fresh `ShellEnv` per trace; the same seed gives the same file byte for
byte.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from wmh.capture import EpisodeRecording, TraceRecorder

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "traces.otel.jsonl"


def _load_env() -> ModuleType:
    """Import env.py from this folder (examples/ is not a package)."""
    name = "terminal_tasks_env"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ShellEnv = _load_env().ShellEnv

_EXIT = re.compile(r"\[exit code (-?\d+)\]\Z")

# ---------------------------------------------------------------------------------------------
# The agent: runs commands through the recorder, occasionally slips, and keeps a log of steps.


@dataclass(frozen=True)
class Result:
    """One tool result as the agent sees it."""

    text: str
    error: bool

    @property
    def out(self) -> str:
        """The command's output without the trailing `[exit code N]` line."""
        return _EXIT.sub("", self.text).rstrip("\n")

    @property
    def first(self) -> str:
        lines = self.out.splitlines()
        return lines[0].strip() if lines else ""


@dataclass(frozen=True)
class RecordedStep:
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool


@dataclass
class RecordedEpisode:
    task: str
    family: str
    steps: list[RecordedStep] = field(default_factory=list)
    final: str = ""


WRONG_TOOLS = ["bsh", "shell", "Bash", "run_bash", "terminal", "sh"]
COMMAND_TYPOS = {
    "grep": "gerp",
    "cat": "cta",
    "ls": "sl",
    "sort": "srot",
    "python3": "pyhton3",
    "head": "haed",
    "tail": "tial",
    "sed": "sde",
    "find": "fnid",
    "git": "gti",
    "mkdir": "mkidr",
    "chmod": "chmdo",
    "tar": "tra",
    "wc": "wx",
    "seq": "sqe",
    "echo": "ehco",
}


class Agent:
    """A scripted terminal agent bound to one episode and one shell."""

    def __init__(
        self, episode: EpisodeRecording, env: Any, rng: random.Random, log: RecordedEpisode
    ):
        self.episode = episode
        self.env = env
        self.rng = rng
        self.log = log
        self.calls = 0
        # About a third of the traces carry one generic slip (a mistyped command or tool name).
        self.slip_at = rng.randint(1, 4) if rng.random() < 0.33 else 0

    def coin(self, p: float) -> bool:
        return self.rng.random() < p

    def _run(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        text, is_error = self.env.call(name, arguments)
        if self.env.root in text:
            raise RuntimeError(f"the temp dir leaked into the output of {arguments!r}")
        self.log.steps.append(RecordedStep(name, dict(arguments), text, is_error))
        return text, is_error

    def call(self, name: str, command: str) -> Result:
        text, is_error = self.episode.call_tool(
            name, {"command": command}, lambda args: self._run(name, args)
        )
        return Result(text, is_error)

    def sh(self, command: str, slip: bool = True) -> Result:
        """Run a command; the scheduled generic slip happens before it, then the real one."""
        if slip:
            self.calls += 1
            if self.calls == self.slip_at:
                self._slip(command)
        return self.call("bash", command)

    def _slip(self, command: str) -> None:
        head, _, rest = command.partition(" ")
        typo = COMMAND_TYPOS.get(head)
        if typo is not None and self.coin(0.6):
            self.call("bash", f"{typo} {rest}" if rest else typo)
        else:
            self.call(self.rng.choice(WRONG_TOOLS), command)

    def write(self, files: dict[str, list[str]], style: str | None = None) -> Result:
        """Create files in one command (heredocs or printf), making parent directories."""
        return self.sh(write_command(files, style or self.rng.choice(["heredoc", "printf"])), False)

    def look(self, where: str = ".") -> None:
        """A quick look around, as agents often do before working."""
        choice = self.rng.random()
        if choice < 0.45:
            self.sh("ls" if where == "." else f"ls {where}")
        elif choice < 0.65:
            self.sh(f"find {where} -type f | sort")
        elif choice < 0.75:
            self.sh(f"ls -R {where}")


def write_command(files: dict[str, list[str]], style: str) -> str:
    dirs = sorted({p.rpartition("/")[0] for p in files if "/" in p})
    parts = [f"mkdir -p {' '.join(dirs)}"] if dirs else []
    if style == "heredoc":
        body = "\n".join(
            f"cat > {path} <<'EOF'\n" + "".join(f"{line}\n" for line in lines) + "EOF"
            for path, lines in files.items()
        )
        return (parts[0] + "\n" if parts else "") + body
    for path, lines in files.items():
        parts.append(
            "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines) + f" > {path}"
        )
    return " && ".join(parts)


def typo(rng: random.Random, path: str) -> str:
    """A plausible misspelling of a path."""
    folder, _, base = path.rpartition("/")
    stem, dot, ext = base.partition(".")
    options: list[str] = []
    if len(stem) >= 4:
        i = rng.randrange(1, len(stem) - 2)
        swapped = stem[:i] + stem[i + 1] + stem[i] + stem[i + 2 :]
        if swapped != stem:
            options.append(swapped + dot + ext)
        options.append(stem[:i] + stem[i + 1 :] + dot + ext)
    if ext:
        wrong = {"csv": "cvs", "txt": "text", "log": "logs", "json": "jsn", "py": "pyy"}
        options.append(stem + dot + wrong.get(ext, ext + "s"))
    if folder:
        alt = folder[:-1] if folder.endswith("s") else folder + "s"
        return rng.choice([f"{alt}/{base}"] + [f"{folder}/{o}" for o in options])
    return rng.choice(options or [base + "x"])


# ---------------------------------------------------------------------------------------------
# Vocabulary for seeded content.

COMPONENTS = ["db", "auth", "api", "cache", "worker", "scheduler", "mailer", "billing"]
MESSAGES = {
    "INFO": ["request served", "job finished", "user logged in", "cache warmed", "config loaded"],
    "WARN": ["slow query", "retrying request", "disk usage at 85%", "deprecated endpoint"],
    "ERROR": ["connection refused", "timeout after 30s", "permission denied", "null payload"],
}
WORDS = (
    "the system stores data in small files and the agent reads the files to answer questions "
    "about data quality before the release the team checks every report twice"
).split()
REGIONS = ["north", "south", "east", "west", "central"]
PRODUCTS = ["widget", "gadget", "sprocket", "gizmo", "bolt", "panel"]
FIRST = ["ana", "ben", "chen", "dara", "eli", "fatima", "goran", "hana", "ivan", "jo", "kim"]
DEPTS = ["eng", "sales", "ops", "finance", "support"]
STEMS = ["notes", "todo", "ideas", "meeting", "journal", "draft", "inventory", "tasks", "plan"]
PROJECTS = ["webapp", "toolkit", "pipeline", "service", "scraper", "dashboard"]
Task = tuple[str, Callable[[Agent], str]]


def log_lines(rng: random.Random, n: int) -> list[str]:
    levels = ["INFO", "WARN", "ERROR"] + [
        rng.choice(["INFO", "INFO", "WARN", "ERROR"]) for _ in range(n - 3)
    ]
    rng.shuffle(levels)
    lines = []
    day, second = rng.randint(1, 28), rng.randint(0, 20) * 3600
    for level in levels:
        second += rng.randint(1, 240)
        clock = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        stamp = f"2026-01-{day:02d} {clock}"
        lines.append(f"{stamp} {level} {rng.choice(COMPONENTS)}: {rng.choice(MESSAGES[level])}")
    return lines


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 10))]
    return " ".join(words).capitalize() + "."


def stem_name(rng: random.Random) -> str:
    stem = rng.choice(STEMS)
    return f"{stem}_{rng.randint(1, 9)}" if rng.random() < 0.5 else stem


# ---------------------------------------------------------------------------------------------
# Task families: each returns the user's request and the policy that carries it out.


def task_log_count(rng: random.Random) -> Task:
    path = rng.choice(["logs/app.log", "logs/server.log", "logs/api.log", "var/log/worker.log"])
    level = rng.choice(["ERROR", "ERROR", "WARN"])
    out = rng.choice([f"{level.lower()}s.txt", f"{level.lower()}_count.txt", "count.txt"])
    lines = log_lines(rng, rng.randint(8, 13))
    text = rng.choice(
        [
            f"Create a sample log at {path} with a mix of INFO, WARN and ERROR lines, then count "
            f"the {level} lines and save the count to {out}.",
            f"Write a small test log to {path} (INFO/WARN/ERROR entries) and tell me how many "
            f"{level} lines it has. Put the number in {out} too.",
        ]
    )

    def play(a: Agent) -> str:
        a.write({path: lines})
        if a.coin(0.4):
            a.sh(f"head -n 3 {path}")
        if a.coin(0.3):
            if a.sh(f"grep -c {level} {typo(a.rng, path)} > {out}").error:
                a.sh(f"ls {path.rpartition('/')[0]}")
        a.sh(f"grep -c {level} {path} > {out}")
        count = a.sh(f"cat {out}").first
        if a.coin(0.4):
            a.sh(f"grep {level} {path} | tail -n 2")
        return f"{path} has {count} {level} lines; the count is saved in {out}."

    return text, play


def task_log_components(rng: random.Random) -> Task:
    path = rng.choice(["logs/app.log", "logs/backend.log", "service.log"])
    level = rng.choice(["ERROR", "WARN"])
    lines = log_lines(rng, rng.randint(10, 14))
    text = (
        f"Generate a sample log file {path} and find which component logs the most {level} "
        "entries. Show me the counts per component."
    )

    def play(a: Agent) -> str:
        a.write({path: lines})
        a.look()
        if a.coin(0.35):
            a.sh(f"grep {level} {path} | cut -d' ' -f3 | sort | uniq -c")
        res = a.sh(f"grep {level} {path} | cut -d' ' -f4 | tr -d ':' | sort | uniq -c | sort -rn")
        top = res.first.split()
        name = top[1] if len(top) > 1 else "none"
        return f"Counts per component are above; '{name}' logs the most {level} entries."

    return text, play


def task_csv_totals(rng: random.Random) -> Task:
    path = rng.choice(["data/sales.csv", "data/orders.csv", "sales.csv", "reports/q1.csv"])
    out = rng.choice(["report.txt", "totals.txt", "summary.txt"])
    rows = [
        f"{rng.choice(REGIONS)},{rng.choice(PRODUCTS)},{rng.randint(1, 40)},{rng.randint(2, 90)}"
        for _ in range(rng.randint(7, 12))
    ]
    key, col = rng.choice([("region", 1), ("product", 2)])
    text = rng.choice(
        [
            f"Create {path} with columns region,product,qty,price and some rows, then total the "
            f"qty per {key}, sorted from largest to smallest, into {out}.",
            f"I need a per-{key} quantity report. Make a sample {path} "
            f"(region,product,qty,price) and write the totals to {out}, biggest first.",
        ]
    )

    def play(a: Agent) -> str:
        a.write({path: ["region,product,qty,price", *rows]})
        a.look()
        if a.coin(0.6):
            a.sh(f"head -n 4 {path}")
        program = f"{{s[${col}]+=$3}} END {{for (k in s) print k, s[k]}}"
        if a.coin(0.35):
            # Forgets to skip the header and to set the separator, then notices.
            a.sh(f"awk '{program}' {path} | sort -k2 -nr")
            a.sh(f"awk -F, '{program}' {path} | sort -k2 -nr")
        a.sh(f"awk -F, 'NR>1 {program}' {path} | sort -k2 -nr > {out}")
        top = a.sh(f"cat {out}").first
        if a.coin(0.3):
            a.sh(f"wc -l {out}")
        return f"Wrote per-{key} totals to {out}; the largest is {top}."

    return text, play


def task_word_freq(rng: random.Random) -> Task:
    path = rng.choice(["notes.txt", "docs/essay.txt", f"{stem_name(rng)}.txt", "text/story.txt"])
    k = rng.randint(3, 6)
    out = rng.choice(["top_words.txt", "freq.txt", "words.txt"])
    lines = [sentence(rng) for _ in range(rng.randint(4, 7))]
    text = (
        f"Put a few sentences of sample text in {path}, then find the {k} most frequent words "
        f"(case-insensitive) and save them to {out}."
    )

    def play(a: Agent) -> str:
        a.write({path: lines})
        a.sh(f"wc -w {path}")
        pipeline = f"tr 'A-Z' 'a-z' < {path} | tr -cs 'a-z' '\\n' | sort | uniq -c | sort -rn"
        if a.coin(0.3):
            a.sh(f"{pipeline} | head -n {k} --verbose-mode")
        a.sh(f"{pipeline} | head -n {k} > {out}")
        res = a.sh(f"cat {out}")
        top = res.first.split()
        return f"The most frequent word is '{top[-1] if top else '?'}'; top {k} saved to {out}."

    return text, play


def task_line_counts(rng: random.Random) -> Task:
    folder = rng.choice(["notes", "docs", "txt", "drafts"])
    names = rng.sample(STEMS, rng.randint(3, 5))
    files = {f"{folder}/{n}.txt": [sentence(rng) for _ in range(rng.randint(1, 9))] for n in names}
    text = rng.choice(
        [
            f"Make a {folder}/ folder with a few .txt files, then tell me which one has the most "
            "lines and how many.",
            f"Create some sample text files in {folder}/ and find the longest one by line count.",
        ]
    )

    def play(a: Agent) -> str:
        a.write(files)
        a.look(folder)
        if a.coin(0.25):
            a.sh(f"wc -l {folder}/*.md")
        a.sh(f"wc -l {folder}/*.txt")
        best = a.sh(f"wc -l {folder}/*.txt | sort -n | tail -n 2 | head -n 1").first.split()
        if len(best) == 2 and a.coin(0.5):
            a.sh(f"head -n 2 {best[1]}")
        return f"{best[1]} has the most lines ({best[0]})." if len(best) == 2 else "Done."

    return text, play


def task_config_edit(rng: random.Random) -> Task:
    path = rng.choice(["config/app.ini", "settings.conf", "etc/service.conf", "app.env"])
    values = {
        "host": rng.choice(["localhost", "0.0.0.0", "db.internal"]),
        "port": str(rng.choice([8000, 8080, 5432, 3000])),
        "debug": rng.choice(["true", "false"]),
        "workers": str(rng.randint(1, 8)),
        "log_level": rng.choice(["info", "warning", "debug"]),
    }
    key = rng.choice(list(values))
    new = {
        "host": "127.0.0.1",
        "port": str(int(values["port"]) + 1),
        "debug": "false" if values["debug"] == "true" else "true",
        "workers": str(int(values["workers"]) * 2),
        "log_level": "error",
    }[key]
    lines = [f"{k}={v}" for k, v in values.items()]
    text = (
        f"Create {path} with host, port, debug, workers and log_level settings, then change "
        f"{key} to {new}. Keep a backup as {path}.bak and show me what changed."
    )

    def play(a: Agent) -> str:
        a.write({path: ["# service settings", *lines]})
        a.sh(f"grep -n '^{key}=' {path}")
        if a.coin(0.3):
            a.sh(f"sed -i.bak 's/^{key}=.*/{key}={new}' {path}")
        a.sh(f"sed -i.bak 's/^{key}=.*/{key}={new}/' {path}")
        a.sh(f"grep '^{key}=' {path}")
        a.sh(f"diff {path}.bak {path}")
        return f"Changed {key} from {values[key]} to {new} in {path} (backup in {path}.bak)."

    return text, play


def task_git(rng: random.Random) -> Task:
    project = rng.choice(PROJECTS)
    sub = rng.random() < 0.5
    prefix = f"cd {project} && " if sub else ""
    main = rng.choice(["main.py", "app.py", "cli.py"])
    msg = rng.choice(["Initial commit", "Add project skeleton", "First version"])
    msg2 = rng.choice(["Add greeting", "Print version", "Handle empty input"])
    lines = ["def main():", f"    print('{project} {rng.randint(1, 9)}.{rng.randint(0, 9)}')"]
    extra = rng.choice(
        ["    print('hello')", "    return 0", "    print('done')", "    print(len([]))"]
    )
    where = f"a new {project}/ folder" if sub else "the current folder"
    text = (
        f"Set up a git repository in {where} with a README.md and {main}, commit them as "
        f"'{msg}', then make a small change to {main}, show me the diff and commit it as '{msg2}'."
    )

    def play(a: Agent) -> str:
        folder = f"{project}/" if sub else ""
        init = (
            f"mkdir -p {project} && cd {project} && git init -q -b main"
            if sub
            else ("git init -q -b main")
        )
        a.sh(init)
        a.write(
            {
                f"{folder}README.md": [f"# {project}", "", "A small demo project."],
                f"{folder}{main}": lines,
            }
        )
        a.sh(f"{prefix}git status --short")
        if a.coin(0.3):
            a.sh(f"{prefix}git commit -m '{msg}'")
        a.sh(f"{prefix}git add README.md {main}")
        a.sh(f"{prefix}git commit -m '{msg}'")
        a.sh(f'{prefix}echo "{extra}" >> {main}')
        a.sh(f"{prefix}git diff")
        if a.coin(0.25):
            a.sh(f"{prefix}git comit -am '{msg2}'")
        a.sh(f"{prefix}git commit -am '{msg2}'")
        log = a.sh(f"{prefix}git log --oneline")
        return f"Two commits on main:\n{log.out}"

    return text, play


def task_python_stats(rng: random.Random) -> Task:
    data = rng.choice(["numbers.txt", "data/values.txt", "scores.txt", "data/latency_ms.txt"])
    script = rng.choice(["stats.py", "summarize.py", "describe.py"])
    values = [str(rng.randint(1, 500)) for _ in range(rng.randint(6, 12))]
    text = (
        f"Save some sample numbers to {data}, then write a Python script {script} that prints "
        "the count, mean, min and max of the numbers in a file, and run it on that file."
    )
    code = [
        "import sys",
        "",
        "if len(sys.argv) != 2:",
        f"    sys.exit('usage: python3 {script} FILE')",
        "with open(sys.argv[1]) as f:",
        "    nums = [float(line) for line in f if line.strip()]",
        "print(f'count={len(nums)}')",
        "print(f'mean={sum(nums) / len(nums):.2f}')",
        "print(f'min={min(nums):g} max={max(nums):g}')",
    ]

    def play(a: Agent) -> str:
        a.write({data: values}, style="printf")
        a.write({script: code}, style="heredoc")
        if a.coin(0.4):
            a.sh(f"wc -l {data}")
        if a.coin(0.3):
            a.sh(f"python3 {script}")
        res = a.sh(f"python3 {script} {data}")
        if a.coin(0.3):
            a.sh(f"sort -n {data} | head -n 3")
        summary = ", ".join(res.out.split())
        return f"{script} works: {summary}."

    return text, play


def task_json_query(rng: random.Random) -> Task:
    path = rng.choice(["data/users.json", "users.json", "export/accounts.json"])
    people = rng.sample(FIRST, rng.randint(4, 7))
    users = [
        {
            "id": i + 1,
            "name": n,
            "role": rng.choice(["admin", "user", "user", "viewer"]),
            "active": rng.random() < 0.7,
        }
        for i, n in enumerate(people)
    ]
    body = (
        "["
        + ", ".join(
            f'{{"id": {u["id"]}, "name": "{u["name"]}", "role": "{u["role"]}", '
            f'"active": {str(u["active"]).lower()}}}'
            for u in users
        )
        + "]"
    )
    role = rng.choice(["admin", "viewer"])
    text = (
        f"Create {path} with a list of users (id, name, role, active), then tell me how many "
        f"are active and list the names of the {role}s."
    )
    load = f"import json; u = json.load(open('{path}'))"

    def play(a: Agent) -> str:
        a.write({path: [body]}, style="heredoc")
        a.look()
        if a.coin(0.6):
            a.sh(f"python3 -m json.tool {path} | head -n 14")
        if a.coin(0.25):
            a.sh(f"python3 -c \"{load}; print(sum(x['is_active'] for x in u))\"")
        active = a.sh(f"python3 -c \"{load}; print(sum(x['active'] for x in u))\"").first
        pick = f"x['name'] for x in u if x['role'] == '{role}'"
        names = a.sh(f"python3 -c \"{load}; print('\\n'.join({pick}))\"").out.split()
        listed = ", ".join(names) if names else f"no {role}s"
        return f"{active} users are active; {role}s: {listed}."

    return text, play


def task_json_fix(rng: random.Random) -> Task:
    path = rng.choice(["config.json", "data/settings.json", "conf/app.json"])
    name = rng.choice(PROJECTS)
    port = rng.choice([8000, 8080, 9090])
    lines = ["{", f'  "name": "{name}",', f'  "port": {port},', '  "debug": false,', "}"]
    text = (
        f"Write {path} with name, port and debug fields, check that it is valid JSON, fix it if "
        "not, and print it pretty-formatted."
    )

    def play(a: Agent) -> str:
        a.write({path: lines}, style="heredoc")
        first = a.sh(f"python3 -m json.tool {path}")
        if first.error:
            a.sh(f'sed -i \'s/"debug": false,/"debug": false/\' {path}')
            a.sh(f"python3 -m json.tool {path}")
        key = a.sh(f"python3 -c \"import json; print(json.load(open('{path}'))['port'])\"").first
        return f"{path} had a trailing comma; fixed it and it now parses (port {key})."

    return text, play


def task_find_todos(rng: random.Random) -> Task:
    project = rng.choice(PROJECTS)
    mods = rng.sample(["core", "util", "io", "models", "views", "config", "cli"], 3)
    files: dict[str, list[str]] = {}
    for m in mods:
        body = [f"def {m}_main():"]
        for _ in range(rng.randint(0, 3)):
            body.append(f"    # TODO: {rng.choice(['handle errors', 'add tests', 'speed up'])}")
        body.append("    return None")
        files[f"{project}/src/{m}.py"] = body
    files[f"{project}/tests/test_{mods[0]}.py"] = [
        "# TODO: more cases",
        "def test_ok():",
        "    pass",
    ]
    files[f"{project}/docs/index.md"] = [f"# {project}", "TODO: write docs"]
    text = (
        f"Scaffold a {project}/ project with src/, tests/ and docs/, then list every Python "
        "file in it and count the TODO comments in the Python code."
    )

    def play(a: Agent) -> str:
        a.write(files, style="printf")
        if a.coin(0.3):
            a.sh(f"find -name '*.py' {project}")
        listing = a.sh(f"find {project} -name '*.py' | sort")
        a.sh(f"grep -rn TODO {project} --include='*.py' | sort")
        count = a.sh(f"grep -r TODO {project} --include='*.py' | wc -l").first
        n = len(listing.out.splitlines())
        return f"{n} Python files; {count} TODO comments in the Python code."

    return text, play


def task_shell_script(rng: random.Random) -> Task:
    src = rng.choice(["docs", "notes", "inbox"])
    dest = rng.choice(["backup", "archive", "bak"])
    script = rng.choice(["backup.sh", "copy_txt.sh", "save.sh"])
    names = rng.sample(STEMS, rng.randint(2, 4))
    files = {f"{src}/{n}.txt": [sentence(rng)] for n in names}
    files[f"{src}/readme.md"] = ["not a txt file"]
    body = [
        "#!/bin/bash",
        "set -eu",
        f"mkdir -p {dest}",
        "n=0",
        f"for f in {src}/*.txt; do",
        f'  cp "$f" {dest}/',
        "  n=$((n + 1))",
        "done",
        'echo "copied $n files"',
    ]
    text = (
        f"Write a bash script {script} that copies every .txt file from {src}/ into {dest}/ and "
        "prints how many it copied. Create a few sample files and run it."
    )

    def play(a: Agent) -> str:
        a.write(files)
        a.write({script: body}, style="heredoc")
        if a.coin(0.55):
            a.sh(f"./{script}")
        a.sh(f"chmod +x {script} && ./{script}")
        listing = a.sh(f"ls {dest}")
        return f"{script} copied {len(listing.out.split())} files into {dest}/."

    return text, play


def task_dedupe(rng: random.Random) -> Task:
    path = rng.choice(["emails.txt", "data/subscribers.txt", "contacts.txt", "lists/hosts.txt"])
    if "hosts" in path:
        base = [f"{rng.choice(FIRST)}-{rng.randint(1, 9)}.example.net" for _ in range(6)]
    else:
        base = [f"{rng.choice(FIRST)}{rng.randint(1, 99)}@example.com" for _ in range(6)]
    entries = base + rng.sample(base, rng.randint(2, 4))
    rng.shuffle(entries)
    text = rng.choice(
        [
            f"Create {path} with some entries (a few duplicated), then remove the duplicates in "
            "place, keeping it sorted, and tell me how many unique entries remain.",
            f"Make a sample {path} that has duplicates and dedupe it (sorted, in place). "
            "Which entries were duplicated?",
        ]
    )

    def play(a: Agent) -> str:
        a.write({path: entries})
        if a.coin(0.4):
            a.sh(f"head -n 5 {path}")
        a.sh(f"wc -l {path}")
        if a.coin(0.3):
            a.sh(f"uniq -d {path}")
        dups = a.sh(f"sort {path} | uniq -d").out.split()
        a.sh(f"sort -u {path} -o {path}")
        count = a.sh(f"wc -l < {path}").first
        return f"{count} unique entries remain; duplicated were: {', '.join(dups) or 'none'}."

    return text, play


def task_seq_slices(rng: random.Random) -> Task:
    path = rng.choice(["numbers.txt", "seq.txt", "data/ids.txt"])
    n = rng.choice([50, 100, 120, 200, 250])
    start = rng.randint(5, n // 2)
    end = start + rng.randint(2, 6)
    k = rng.randint(2, 5)
    text = (
        f"Generate the numbers 1 to {n} in {path}, then show me lines {start}-{end}, the last "
        f"{k} lines, and the sum of all numbers."
    )

    def play(a: Agent) -> str:
        folder = path.rpartition("/")[0]
        a.sh(f"mkdir -p {folder} && seq 1 {n} > {path}" if folder else f"seq 1 {n} > {path}")
        a.sh(f"sed -n '{start},{end}p' {path}")
        if a.coin(0.3):
            a.sh(f"tail -{k}n {path}")
        a.sh(f"tail -n {k} {path}")
        total = a.sh(f"awk '{{s += $1}} END {{print s}}' {path}").first
        return f"Lines {start}-{end} and the last {k} lines are shown above; the sum is {total}."

    return text, play


def task_rename(rng: random.Random) -> Task:
    folder = rng.choice(["photos", "img", "camera", "pics"])
    upper, lower = rng.choice([("JPG", "jpg"), ("PNG", "png"), ("TXT", "txt")])
    stem = rng.choice(["IMG_", "DSC", "scan_"])
    nums = sorted(rng.sample(range(1, 60), rng.randint(3, 5)))
    names = [f"{folder}/{stem}{i:03d}.{upper}" for i in nums]
    text = f"Rename all .{upper} files in {folder}/ to use a lowercase .{lower} extension."

    def play(a: Agent) -> str:
        a.sh(f"mkdir -p {folder} && touch {' '.join(names)}", slip=False)
        a.sh(f"ls {folder}")
        if a.coin(0.35):
            a.sh(f"mv {folder}/*.{upper} {folder}/*.{lower}")
        a.sh(f'for f in {folder}/*.{upper}; do mv "$f" "${{f%.{upper}}}.{lower}"; done')
        listing = a.sh(f"ls {folder}")
        return f"Renamed {len(listing.out.split())} files to .{lower}."

    return text, play


def task_tsv_groups(rng: random.Random) -> Task:
    path = rng.choice(["staff.tsv", "data/employees.tsv", "hr/people.tsv"])
    rows = [
        f"{n}\t{rng.choice(DEPTS)}\t{rng.randint(40, 120) * 1000}"
        for n in rng.sample(FIRST, rng.randint(5, 9))
    ]
    text = (
        f"Create a tab-separated {path} with name, dept and salary columns, then list the "
        "distinct departments with how many people are in each."
    )

    def play(a: Agent) -> str:
        a.write({path: ["name\tdept\tsalary", *rows]}, style="heredoc")
        a.sh(f"head -n 3 {path}")
        if a.coin(0.4):
            a.sh(f"wc -l {path}")
        if a.coin(0.35):
            a.sh(f"cut -d, -f2 {path} | sort | uniq -c")
        res = a.sh(f"tail -n +2 {path} | cut -f2 | sort | uniq -c | sort -rn")
        return f"{len(res.out.splitlines())} departments; counts are above."

    return text, play


def task_archive(rng: random.Random) -> Task:
    folder = rng.choice(["reports", "project", "assets", "logs"])
    name = rng.choice([f"{folder}", f"{folder}-backup", "bundle"])
    files = {f"{folder}/{stem_name(rng)}.txt": [sentence(rng)] for _ in range(rng.randint(2, 4))}
    files[f"{folder}/sub/extra.txt"] = ["nested file"]
    text = f"Create a few files in {folder}/, pack the folder into {name}.tar.gz and list it."

    def play(a: Agent) -> str:
        a.write(files)
        a.sh(f"tar --sort=name --mtime='2026-01-01 00:00:00' -czf {name}.tar.gz {folder}")
        if a.coin(0.3):
            a.sh(f"tar -tzf {typo(a.rng, name + '.tar.gz')}")
        listing = a.sh(f"tar -tzf {name}.tar.gz")
        if a.coin(0.4):
            a.sh(f"ls {name}.tar.gz")
        if a.coin(0.5):
            a.sh(f"mkdir -p restore && tar -xzf {name}.tar.gz -C restore")
            a.sh("find restore -type f | sort")
        files_in = [line for line in listing.out.splitlines() if not line.endswith("/")]
        return f"{name}.tar.gz holds {len(files_in)} files."

    return text, play


def task_diff_versions(rng: random.Random) -> Task:
    stem = rng.choice(["draft", "letter", "spec", "readme"])
    old = [sentence(rng) for _ in range(rng.randint(3, 6))]
    new = list(old)
    new[rng.randrange(len(new))] = sentence(rng)
    if rng.random() < 0.5:
        new.append(sentence(rng))
    text = (
        f"Write two versions of a short text, {stem}_v1.txt and {stem}_v2.txt, and show me "
        "what changed between them."
    )

    def play(a: Agent) -> str:
        a.write({f"{stem}_v1.txt": old, f"{stem}_v2.txt": new})
        if a.coin(0.5):
            a.sh(f"wc -l {stem}_v1.txt {stem}_v2.txt")
        if a.coin(0.5):
            a.sh(f"diff {stem}_v1.txt {stem}_v2.txt")
        else:
            a.sh(f"touch -d '2026-01-01 00:00:00' {stem}_v1.txt {stem}_v2.txt")
            a.sh(f"diff -u {stem}_v1.txt {stem}_v2.txt")
        if a.coin(0.3):
            a.sh(f"cmp {stem}_v1.txt {stem}_v2.txt")
        return "diff exits with 1 because the files differ; the changed lines are shown above."

    return text, play


def task_uppercase(rng: random.Random) -> Task:
    path = f"{stem_name(rng)}.txt"
    out = rng.choice(["upper.txt", "shout.txt", f"{path[:-4]}_upper.txt"])
    lines = [sentence(rng) for _ in range(rng.randint(2, 4))]
    word = rng.choice(WORDS)
    text = (
        f"Write a few lines to {path}, make an uppercase copy in {out}, and count how many "
        f"lines mention '{word}'."
    )

    def play(a: Agent) -> str:
        a.write({path: lines})
        a.look()
        a.sh(f"tr '[:lower:]' '[:upper:]' < {path} > {out}")
        a.sh(f"cat {out}")
        res = a.sh(f"grep -ci '{word}' {path}")
        return f"Uppercase copy in {out}; {res.first or '0'} lines mention '{word}'."

    return text, play


FAMILIES: dict[str, Callable[[random.Random], Task]] = {
    "log_count": task_log_count,
    "log_components": task_log_components,
    "csv_totals": task_csv_totals,
    "word_freq": task_word_freq,
    "line_counts": task_line_counts,
    "config_edit": task_config_edit,
    "git": task_git,
    "python_stats": task_python_stats,
    "json_query": task_json_query,
    "json_fix": task_json_fix,
    "find_todos": task_find_todos,
    "shell_script": task_shell_script,
    "dedupe": task_dedupe,
    "seq_slices": task_seq_slices,
    "rename": task_rename,
    "tsv_groups": task_tsv_groups,
    "archive": task_archive,
    "diff_versions": task_diff_versions,
    "uppercase": task_uppercase,
}


def capture(out: str | Path, seed: int = 0, traces: int = 160) -> list[RecordedEpisode]:
    """Play `traces` seeded episodes in fresh shells and record them to `out` (truncated)."""
    order_rng = random.Random(f"terminal-tasks:{seed}:order")
    recorder = TraceRecorder(out, seed=seed, service="terminal-agent", agent="terminal")
    episodes: list[RecordedEpisode] = []
    names: list[str] = []
    try:
        for index in range(traces):
            if not names:
                names = list(FAMILIES)
                order_rng.shuffle(names)
            family = names.pop()
            rng = random.Random(f"terminal-tasks:{seed}:{index}")
            text, play = FAMILIES[family](rng)
            log = RecordedEpisode(task=text, family=family)
            env = ShellEnv(seed=seed)
            env.reset()
            try:
                with recorder.episode(text) as episode:
                    log.final = play(Agent(episode, env, rng, log))
                    episode.say(log.final)
            finally:
                env.close()
            episodes.append(log)
    finally:
        recorder.close()
    return episodes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traces", type=int, default=160)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    episodes = capture(args.out, seed=args.seed, traces=args.traces)
    steps = sum(len(e.steps) for e in episodes)
    errors = sum(s.is_error for e in episodes for s in e.steps)
    print(f"wrote {len(episodes)} traces, {steps} steps ({errors} errors) to {args.out}")


if __name__ == "__main__":
    main()
