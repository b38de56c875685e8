"""Compose the one wmh config from `conf/` with Hydra, for callers that are not `@hydra.main`.

The CLI and library callers use `compose_config(overrides)`; `python -m wmh.build` uses Hydra's own
entry point over the same directory and schema, so there is a single config system.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from wmh.config import schema as schema_module
from wmh.config.schema import WmhConfig
from wmh.core.secrets import holds_credentials, names_a_secret, redact_urls
from wmh.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SCHEMA_NAME = "wmh_schema"
PIPELINE_CONFIG = "pipeline"  # conf/pipeline.yaml: what `dvc repro` builds (params.yaml)


def quote_override(value: str) -> str:
    """`value` as one quoted Hydra override value, so paths with spaces, commas, brackets,
    quotes or `${` stay one literal string. Hydra reads a backslash literally except in a run
    that precedes a quote (or the closing quote), or an interpolation's `${`: only there is each
    backslash doubled, and `${` is escaped (a file named `x${seed}.jsonl` is not `x0.jsonl`)."""
    escaped = re.sub(
        r"(\\*)('|\$\{|$)",
        lambda m: m.group(1) * 2 + {"'": "\\'", "${": "\\${", "": ""}[m.group(2)],
        value,
    )
    return f"'{escaped}'"


def corpus_name(files: Sequence[str | Path], default: str = "eval") -> str:
    """A name for what trace files hold: the first file's name before its first dot, or its
    folder's for a generic name (`examples/airline/traces.otel.jsonl` is `airline`), reduced to
    the characters a model name may have."""
    first = Path(files[0])
    label = first.name.split(".")[0]
    folder = first.parent.resolve()  # `traces.jsonl` alone is in the current folder
    if label in ("traces", "spans", "corpus") and folder.name:
        label = folder.name
    return re.sub(r"[^A-Za-z0-9._-]", "-", label).strip(".-") or default


def override_key(override: str) -> str:
    """The config key a Hydra override sets (`+a.b@pkg=v` sets `a.b`)."""
    return override.lstrip("+~").split("=", 1)[0].split("@", 1)[0].strip()


def file_overrides(
    name: str | None, root: Path | None, files: Sequence[Path], overrides: Sequence[str] = ()
) -> list[str]:
    """The overrides a command's --name, --root and --file flags stand for. A flag and an `-o`
    override of the same key is an error (the flag's, coming later, silently replaced it: a
    file named in `-o data.files=[...]` beside `--file` was never read, nor reported missing)."""
    given = []
    flags = {"name": ("--name", name is not None), "root": ("--root", root is not None)}
    flags["data.files"] = ("--file", bool(files))
    for override in overrides:
        key = override_key(override)
        flag, set_by_flag = flags.get(key, ("", False))
        if set_by_flag:
            raise ConfigError(
                f"{flag} and -o {key}=... both set {key}: give one of them"
                + (" (repeat --file for several files)" if flag == "--file" else "")
            )
    if name is not None:
        given.append(f"name={quote_override(name)}")
    if root is not None:
        given.append(f"root={quote_override(str(root))}")
    if files:
        given.append("data.files=[" + ",".join(quote_override(str(f)) for f in files) + "]")
    return given


def check_trace_files(settings: WmhConfig, hint: str = "") -> None:
    """Reading files, the config must name some."""
    if settings.source.name == "files" and not settings.data.files and not settings.data.path:
        raise ConfigError(f"no trace files: pass --file PATH (or -o data.files=[...]){hint}")


def register_schema() -> None:
    """Make the structured schema available to `conf/config.yaml`'s defaults list."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=WmhConfig)


def _keys(node: type, prefix: str = "") -> list[str]:
    """Every dotted key of a config dataclass (groups and leaves)."""
    found = []
    for item in dataclasses.fields(node):
        key = f"{prefix}{item.name}"
        found.append(key)
        kind = item.type if isinstance(item.type, type) else _SCHEMA_TYPES.get(str(item.type))
        if kind is not None and dataclasses.is_dataclass(kind):
            found += _keys(kind, f"{key}.")
    return found


_SCHEMA_TYPES = {
    name: value
    for name, value in vars(schema_module).items()
    if isinstance(value, type) and dataclasses.is_dataclass(value)
}
CONFIG_KEYS = frozenset(_keys(WmhConfig))


def check_override_keys(overrides: Sequence[str]) -> None:
    """An override of a key the config does not have fails, naming the closest one (Hydra would
    suggest `+key=...`, which adds the key and then ignores it)."""
    for override in overrides:
        key = override_key(override)
        if not key:  # Hydra reads `=5` as a group override of no group: a traceback
            raise ConfigError(
                f"override '{_shown(override)}' names no key: write KEY=VALUE, e.g. "
                "provider=openai or split.train=0.8"
            )
        if key.startswith(("hydra.", "hydra/")) or key in CONFIG_KEYS:
            continue
        close = difflib.get_close_matches(key, sorted(CONFIG_KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown config key '{key}' in override '{_shown(override)}'{hint}")


def _shown(override: str) -> str:
    """An override as an error names it: a key named for a secret (`provider.api_key`, a
    natural guess) or a value holding a URL with credentials is named, its value never shown."""
    key, sep, value = override.partition("=")
    if sep and (names_a_secret(key) or holds_credentials(value)):
        return f"{key}=<redacted>"
    return override


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose `conf/<config_name>.yaml` with Hydra overrides (`provider=openai`, `a.b=1`)."""
    check_override_keys(overrides)
    register_schema()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_reason(exc)) from None


def _reason(exc: BaseException) -> str:
    """Hydra's message, with the cause it wraps (the value that would not convert)."""
    message = _clean(str(exc))
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and _clean(str(cause)) not in message:
        message = f"{message}: {_clean(str(cause))}"
    return message


def _clean(message: str) -> str:
    """Hydra's message without its hints about env vars and internal object types."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    kept = [
        line
        for line in lines
        if not line.startswith(("full_key:", "object_type=", "reference_type=", "Set the env"))
    ]
    text = " ".join(kept) or "invalid configuration"
    # Hydra's search path says nothing to a user; an override it repeats may hold a password.
    return redact_urls(text.split(" Config search path", 1)[0])


def to_settings(cfg: DictConfig | WmhConfig) -> WmhConfig:
    """A validated, fully resolved WmhConfig object (errors name the offending key)."""
    if isinstance(cfg, WmhConfig):
        return cfg
    try:
        settings: WmhConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except MissingMandatoryValue as exc:
        key = str(exc.full_key or "")
        if key == "name":
            raise ConfigError(
                "no model name: pass --name NAME (wmh build, wmh eval) or name=NAME "
                "(python -m wmh.build)"
            ) from None
        raise ConfigError(f"{key or 'a setting'} has no value: pass {key or 'it'}=VALUE") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(_clean(str(exc))) from None
    problem = out_of_range(dataclasses.asdict(settings))
    if problem:
        raise ConfigError(problem)
    return settings


INT_LIMIT = 2**63  # what results files (JSON), numpy and FAISS hold


def out_of_range(values: dict[str, Any], prefix: str = "") -> str:
    """The first whole number of the settings beyond 64 bits, as an error ("" when none): it
    would be taken, then fail with a traceback after the work, where its results are saved."""
    for key, value in values.items():
        if isinstance(value, dict):
            problem = out_of_range(value, f"{prefix}{key}.")
            if problem:
                return problem
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not -INT_LIMIT <= item < INT_LIMIT:
                return range_problem(f"{prefix}{key}", item)
    return ""


def range_problem(name: str, value: int | None) -> str:
    """Why a whole number cannot be taken ("" when it can)."""
    if value is None or -INT_LIMIT <= value < INT_LIMIT:
        return ""
    return f"{name}: {value} is out of range (a 64-bit whole number: at most {INT_LIMIT - 1})"


def to_yaml(settings: WmhConfig) -> str:
    """Resolved settings as YAML that `settings_from_file` reads back to the same values: a
    `${` in a value (a file named `x${seed}.jsonl`) is written escaped, not as an
    interpolation to resolve again."""
    return OmegaConf.to_yaml(OmegaConf.create(_escaped(dataclasses.asdict(settings))))


def to_container(settings: WmhConfig) -> dict[str, Any]:
    """Resolved settings as plain data, every value as it is (none resolved again)."""
    return dataclasses.asdict(settings)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


def pipeline_params(overrides: Sequence[str] = ()) -> str:
    """`params.yaml` for `dvc.yaml`: `conf/pipeline.yaml` composed and resolved, written exactly as
    DVC's Hydra mode writes it for `dvc exp run -S key=value`."""
    cfg = compose_config(overrides, PIPELINE_CONFIG)
    OmegaConf.resolve(cfg)
    # A `${` left in a value after resolving is literal (a path): written escaped, so a stage
    # reading the file does not resolve it again.
    return OmegaConf.to_yaml(OmegaConf.create(_escaped(OmegaConf.to_container(cfg))))


def settings_from_file(path: str | Path) -> WmhConfig:
    """A resolved config file (`params.yaml`, a model's `config.yaml`) checked against the schema;
    errors name the file and the key."""
    path = Path(path)
    try:
        loaded = OmegaConf.load(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:  # broken YAML: where it broke, on one line
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({problem}{where})") from None
    except (OSError, ValueError, OmegaConfBaseException) as exc:
        raise ConfigError(f"{path}: not a readable YAML config ({exc})") from None
    try:
        merged = OmegaConf.merge(OmegaConf.structured(WmhConfig), loaded)
        settings: WmhConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        where = f"{path}: {key}" if key else str(path)
        raise ConfigError(f"{where}: {_clean(str(exc))}") from None
    problem = out_of_range(dataclasses.asdict(settings))
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return settings
