"""A real terminal environment: one `bash` tool running in a fresh temporary directory.

Commands run with a fixed minimal environment (fixed clock for git, C locale, UTC) and no stdin,
so the same commands give the same output on any machine; that is what makes captures replayable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from typing import Any

TIMEOUT_S = 10
MAX_OUTPUT_CHARS = 16_000
FIXED_DATE = "2026-01-01T00:00:00+0000"
BASH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"command": {"type": "string"}},
    "required": ["command"],
}


class ShellEnv:
    """A bash shell whose working directory is a fresh temp dir per `reset()`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._root: str | None = None

    @property
    def root(self) -> str:
        """The working directory; never shown to the agent."""
        if self._root is None:
            raise RuntimeError("ShellEnv.reset() must be called before use")
        return self._root

    def reset(self) -> None:
        """Start over in a new empty working directory."""
        self.close()
        self._root = tempfile.mkdtemp(prefix="wmh-shell-")

    def tools(self) -> dict[str, dict[str, Any]]:
        return {"bash": dict(BASH_SCHEMA)}

    def _environment(self) -> dict[str, str]:
        return {
            "HOME": self.root,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "TZ": "UTC",
            "TERM": "dumb",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "Terminal Agent",
            "GIT_AUTHOR_EMAIL": "agent@example.com",
            "GIT_COMMITTER_NAME": "Terminal Agent",
            "GIT_COMMITTER_EMAIL": "agent@example.com",
            "GIT_AUTHOR_DATE": FIXED_DATE,
            "GIT_COMMITTER_DATE": FIXED_DATE,
        }

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run a tool call; returns the text the agent sees and whether it is an error."""
        if name != "bash":
            return f"Error: unknown tool '{name}'", True
        command = arguments.get("command")
        if not isinstance(command, str):
            return "Error: 'command' must be a string", True
        output, code = self._run(command)
        if output and not output.endswith("\n"):
            output += "\n"
        return f"{output}[exit code {code}]", code != 0

    def _run(self, command: str) -> tuple[str, int]:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.root,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            raw, _ = proc.communicate(timeout=TIMEOUT_S)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raw, _ = proc.communicate()
            raw += f"\ncommand timed out after {TIMEOUT_S} s\n".encode()
            code = 124
        text = raw.decode("utf-8", errors="replace")
        if len(text) > MAX_OUTPUT_CHARS:
            text = text[:MAX_OUTPUT_CHARS] + "\n... [output truncated]\n"
        return text, code

    def close(self) -> None:
        """Remove the working directory."""
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> ShellEnv:
        self.reset()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_real_env(seed: int = 0) -> Any:
    """The real shell behind wmh's `Env` protocol: each episode in a fresh temporary directory."""
    from wmh.env import ToolEnv

    return ToolEnv(ShellEnv(seed=seed), lambda env, task: env.reset(), name="shell")
