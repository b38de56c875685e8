"""The judges a config names: `judge=` picks the observation judge (`exact`, `structural`,
`numeric`, `rubric`), `reward=` the reward judge of episodes (`none`, `rubric`, `success`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from wmh.config.credentials import credentials_error
from wmh.config.schema import JudgeConfig, ProviderConfig, RewardConfig
from wmh.errors import ConfigError
from wmh.providers.llm import LLMProvider
from wmh.scoring.judges import ExactJudge, Judge, NumericJudge, StructuralJudge
from wmh.scoring.rewards import RewardJudge, RubricReward
from wmh.scoring.rubric import RubricJudge
from wmh.scoring.success import success_check

JUDGE_ALIASES = {"match": "exact"}


def make_judge(
    name: str, judge: JudgeConfig | None = None, provider: ProviderConfig | None = None
) -> Judge:
    """A judge by name (`exact`, `structural`, `numeric`, `rubric`; `match` is `exact`, the
    leading harness's name for it).

    The rubric judge calls `judge.model` (or, when empty, the provider's model) with the
    provider's endpoint settings.
    """
    judges: dict[str, type] = {
        "exact": ExactJudge,
        "structural": StructuralJudge,
        "numeric": NumericJudge,
    }
    name = JUDGE_ALIASES.get(name, name)
    if name == "rubric":
        base = provider or ProviderConfig()
        model = (judge.model if judge else "") or base.model
        if not model:
            raise ConfigError("judge=rubric needs judge.model (a litellm model) or an LLM provider")
        return RubricJudge(LLMProvider(replace(base, model=model)), judge.rubric if judge else "")
    if name not in judges:
        known = ", ".join([*judges, "rubric"])
        raise ConfigError(f"unknown judge '{name}': expected one of {known}")
    return judges[name]()


def make_reward(
    config: RewardConfig, provider: ProviderConfig, success: RewardJudge | None = None
) -> RewardJudge | None:
    """The judge `reward=` names; `success` is the example's own check (`reward=success`)."""
    _check_api_base(config)
    if config.name == "none":
        return None
    if config.name == "success":
        if success is None:
            raise ConfigError(
                "reward=success needs the example's make_success_check() in its env.py; "
                "this one has none (use reward=rubric)"
            )
        return success
    if config.name == "rubric":
        if config.api_base and not config.model:
            raise ConfigError(
                "reward.api_base needs reward.model: the model that endpoint serves "
                "(e.g. openai/<name>)"
            )
        if provider.name == "replay" and not config.model:
            raise ConfigError(
                "reward=rubric needs an LLM: set provider=... (or reward.model=<litellm model>, "
                "with reward.api_base for a self-hosted judge)"
            )
        chosen = provider
        if config.api_base:
            # Its own endpoint: none of the provider's fallbacks or version, which are theirs.
            chosen = replace(
                provider,
                name="openai_compatible",
                api_base=config.api_base,
                api_version=None,
                fallbacks=[],
            )
        if config.model:
            chosen = replace(chosen, model=config.model)
        return RubricReward(LLMProvider(chosen), config.rubric)
    raise ConfigError(f"reward must be none, rubric or success, got {config.name!r}")


def _check_api_base(config: RewardConfig) -> None:
    """`reward.api_base` is refused with credentials in it, and where no judge would call it."""
    if not config.api_base:
        return
    error = credentials_error("reward.api_base", config.api_base)
    if error is not None:
        raise error
    if config.name != "rubric":
        raise ConfigError(
            f"reward.api_base is the endpoint of an LLM judge (reward=rubric); "
            f"reward={config.name} calls none"
        )


def reward_at(
    config: RewardConfig, provider: ProviderConfig, directory: Path | None
) -> RewardJudge | None:
    """The reward judge `config` names, with `reward=success` taken from `directory/env.py`
    (a store root laid out like an example: `wmh serve --root examples/airline`)."""
    _check_api_base(config)
    success = success_check(directory) if config.name == "success" and directory else None
    if config.name == "success" and success is None:
        where = f"{directory}/env.py" if directory else "an example's env.py"
        raise ConfigError(
            f"reward=success needs make_success_check() in {where}; serve the example's root "
            "(--root examples/<task>) or use reward=rubric"
        )
    return make_reward(config, provider, success)
