"""Structured configs (dataclasses) that Hydra validates every composed config against.

Group files under `conf/` fill these nodes; an unknown key or a wrong type fails at composition.
Credentials never live here: providers read them from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class DataConfig:
    files: list[str] = field(default_factory=list)
    # One more input, a trace file or a directory of them: what `dvc.yaml`'s ingest stage tracks
    # (DVC cannot take a list as a dependency).
    path: str = ""
    skip_empty_traces: bool = False


@dataclass
class ProviderConfig:
    name: str = "replay"
    model: str = ""
    api_base: str | None = None
    api_version: str | None = None
    temperature: float = 0.0
    # Sent when not 0. A small local model at temperature 0 can repeat one line until max_tokens
    # (SmolLM2-135M did in 6 of 8 calls; 1 of 8 with 0.5); it also weighs against the repeated
    # keys of a JSON answer, so hosted models are best left at 0.
    frequency_penalty: float = 0.0
    max_tokens: int = 1024
    # How the LLM world model's answer is delimited: `tags` (<observation> … <scratchpad>, with a
    # stop sequence at its end; any model) or `json_schema` (one JSON object, sent as OpenAI's
    # `response_format`; a server that decodes under the schema, as llama.cpp, vLLM and Ollama do,
    # ends the answer where the object closes, however weak the model).
    answer_format: str = "tags"
    # Tokens the server holds for a prompt and its answer together (llama.cpp's --ctx-size, a
    # vLLM model's max_model_len); 0 when it need not be minded. Each prompt is cut to fit.
    context_window: int = 0
    timeout: float = 60.0
    num_retries: int = 3
    fallbacks: list[str] = field(default_factory=list)
    # A build spends at most this long waiting on the provider, in all; then it stops, unpublished.
    build_time_s: float = 900.0
    # A build whose held-out or GEPA steps fail at the provider more often than this is not
    # published (the previous model of its name stays).
    max_error_share: float = 0.1


@dataclass
class EmbedderConfig:
    kind: str = "hashing"
    dim: int = 1024
    context_weight: float = 0.0
    batch_size: int = 64
    model: str = ""  # litellm: the embedding model, e.g. openai/text-embedding-3-small
    api_base: str | None = None  # litellm: an OpenAI-compatible server's /v1


@dataclass
class SplitConfig:
    train: float = 0.8
    valid: float = 0.1
    test: float = 0.1
    salt: str = ""
    # A build scores at most this many held-out steps (whole traces, a stable draw; 0: all), so
    # a big corpus builds in seconds; `wmh eval` scores every held-out step.
    heldout_max_steps: int = 2000


@dataclass
class RetrievalConfig:
    top_k: int = 5
    index: str = "auto"
    flat_max: int = 4096


@dataclass
class PredictorConfig:
    cache: bool = True
    max_prompt_tokens: int = 2000
    # per_tool: an LLM model answers a tool only where it beat replay on valid steps (measured
    # on at most route_traces valid traces); llm: it answers every tool.
    route: str = "per_tool"
    route_traces: int = 12


@dataclass
class GepaConfig:
    budget: int = 0
    minibatch_size: int = 3
    candidate_selection: str = "pareto"
    use_merge: bool = False
    seed: int = 0
    reflection_model: str = ""
    valset_size: int = 12


@dataclass
class JudgeConfig:
    name: str = "structural"
    model: str = ""
    rubric: str = ""


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_sessions: int = 1024
    session_ttl_s: float = 3600.0
    session_store: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_body_bytes: int = 1_048_576  # a larger request is answered 413 before it is read whole
    max_body_items: int = 100_000  # nor is one holding more JSON array elements and members
    max_session_steps: int = 5_000  # a session this long takes no more steps (413)
    max_session_bytes: int = 16_777_216  # nor one whose actions and answers add up to this
    # LLM and Redis steps are awaited on the event loop, a predictor that may block runs on
    # `threads` worker threads; at most `threads + max_waiting` such steps are under way, and
    # beyond that a step is answered 503 with Retry-After at once rather than queued without
    # bound while the provider is saturated.
    threads: int = 128
    max_waiting: int = 256


@dataclass
class SourceConfig:
    """Where traces come from: files (data.files / data.path), an MLflow tracking store or an
    Arize Phoenix server."""

    name: str = "files"
    tracking_uri: str = ""  # mlflow: empty uses MLFLOW_TRACKING_URI
    experiment: str = ""  # mlflow: the experiment holding the traces
    filter: str = ""  # mlflow: a search_traces filter string
    endpoint: str = ""  # phoenix: empty uses PHOENIX_COLLECTOR_ENDPOINT, else localhost:6006
    project: str = ""  # phoenix: the project holding the traces


@dataclass
class RewardConfig:
    """How episodes are rewarded (`wmh eval sim2real`, agents): none, or an LLM with a rubric."""

    name: str = "none"
    model: str = ""  # empty: the provider's model and endpoint
    # The judge's own OpenAI-compatible endpoint (with `model`), apart from the provider the
    # world models call: in a store of LLM and replay models, `provider.*` re-points the LLM
    # models; this reaches the judge alone.
    api_base: str | None = None
    rubric: str = ""


@dataclass
class StudyConfig:
    """`wmh study scaling|seeds`: train sizes (nested subsets), seeds per size, scored turns."""

    sizes: list[int] = field(default_factory=lambda: [5, 10, 20, 40, 80, 160])
    seeds: int = 3
    sample_turns: str = "all"


@dataclass
class WmhConfig:
    name: str = MISSING
    root: str = ".wmh"
    seed: int = 0
    track: bool = True
    experiment: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    provider: ProviderConfig = field(default_factory=ProviderConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    gepa: GepaConfig = field(default_factory=GepaConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
