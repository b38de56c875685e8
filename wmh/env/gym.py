"""A gymnasium adapter: a world model as a `gymnasium.Env` with text observations and JSON-text
actions, registered as `wmh/WorldModel-v0`:

    import gymnasium as gym
    import wmh.env.gym  # registers the id
    env = gym.make("wmh/WorldModel-v0", name="airline", root="examples/airline")
    text, info = env.reset(seed=0)                # a held-out task, or options={"task": ...}
    text, reward, terminated, truncated, info = env.step(
        '{"tool": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}')

An action is `{"tool": NAME, "arguments": {...}}`, `{"message": TEXT}` or `{"done": true}` (which
ends the episode). Text that is not such JSON is answered with an error observation, not an
exception, as a real environment answers a malformed call. The reward of a step comes from
`reward_fn(task, turns)` when one is given, else 0.0.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from wmh.core.action_json import ActionSyntaxError, parse_action_json
from wmh.core.types import Action, Observation, Turn
from wmh.engine.world_model import WorldModel
from wmh.env.base import WorldModelEnv
from wmh.errors import ConfigError, InputError
from wmh.store.loader import load_world_model
from wmh.store.splits import agent_traces
from wmh.store.store import WorldModelStore

ENV_ID = "wmh/WorldModel-v0"
CHARSET = string.printable
MAX_TEXT = 8192
RewardFn = Callable[[str, Sequence[Turn]], float]


def as_text(content: str, limit: int = MAX_TEXT) -> str:
    """Observation text inside the Text space: non-ASCII escaped, cut with a visible marker."""
    text = content.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c in CHARSET else " " for c in text)
    if len(text) > limit:
        cut = len(text) - limit
        while True:  # the marker's own length is cut too, and its count's digits size it
            marker = f" [... {cut} characters cut ...] "
            if len(text) - (limit - len(marker)) == cut:
                break
            cut = len(text) - (limit - len(marker))
        if len(marker) < limit:
            return text[: limit - len(marker)] + marker
    return text[:limit]


def parse_action(text: str) -> Action | None | str:
    """An action, None for `{"done": true}`, or an error message for anything else."""
    try:
        return parse_action_json(text)
    except ActionSyntaxError as exc:
        return f"Error: {exc}"


class WorldModelGymEnv(gym.Env[str, str]):
    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        name: str | None = None,
        root: str | Path = ".wmh",
        model_dir: str | Path | None = None,
        world_model: WorldModel | None = None,
        tasks: Sequence[str] | None = None,
        max_steps: int = 50,
        reward_fn: RewardFn | None = None,
        render_mode: str | None = None,
    ) -> None:
        if world_model is None:
            if model_dir is None:
                if name is None:
                    raise ValueError("pass name= (with root=), model_dir= or world_model=")
                model_dir = WorldModelStore(root).resolve(name)
            world_model, _ = load_world_model(model_dir)
            if tasks is None:
                tasks = sorted({t.steps[0].task for t in agent_traces(model_dir)})
        if max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
        self.wm = world_model
        self.env = WorldModelEnv(world_model)
        self.tasks = list(tasks or [""])
        self.max_steps = max_steps
        self.reward_fn = reward_fn
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET)
        self.task = ""
        self.turns: list[Turn] = []
        self.steps = 0  # every step of the episode, a refused action too (the time limit)
        self._last = ""
        self._ended = True  # no episode until reset(); one ends with done or max_steps

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        unknown = set(options or {}) - {"task"}
        chosen = (options or {}).get("task")
        if unknown or not isinstance(chosen, str | None):
            raise ConfigError(
                "reset options take only 'task', a string"
                + (f"; got {sorted(unknown)}" if unknown else f"; got {type(chosen).__name__}")
            )
        self.task = (
            chosen
            if chosen is not None
            else self.tasks[int(self.np_random.integers(len(self.tasks)))]
        )
        self.env.reset(self.task)
        self.turns = []
        self.steps = 0
        self._last = as_text(self.task)
        self._ended = False
        return self._last, {"task": self.task, "tools": sorted(self.wm.tools())}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._ended:  # stepping on would add to a finished episode's session
            raise ConfigError(
                "the episode has ended (done, or max_steps reached) or not begun: call "
                "reset() before stepping"
            )
        parsed = parse_action(action)
        if parsed is None:
            self._ended = True
            return self._last, self._reward(), True, False, {"task": self.task, "done": True}
        if not isinstance(parsed, str):
            try:
                observation = self.env.step(parsed)
                self.turns.append(Turn(action=parsed, observation=observation))
            except InputError as exc:  # arguments no session can hold: a malformed call too
                parsed = f"Error: {exc}"
        if isinstance(parsed, str):
            observation = Observation(content=parsed, is_error=True, metadata={"source": "gym"})
        self._last = as_text(observation.content)
        self.steps += 1
        # Refused actions count too: a policy that only writes malformed actions still ends.
        truncated = self.steps >= self.max_steps
        self._ended = truncated
        info = {
            "task": self.task,
            "is_error": observation.is_error,
            "source": observation.metadata.get("source", ""),
        }
        return self._last, self._reward(), False, truncated, info

    def _reward(self) -> float:
        return float(self.reward_fn(self.task, self.turns)) if self.reward_fn else 0.0

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last
        return None

    def close(self) -> None:
        self.env.close()


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="wmh.env.gym:WorldModelGymEnv")


register()
