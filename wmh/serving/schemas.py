"""The HTTP bodies: what the routes take and answer (DESIGN.md's shapes, a superset of the leading
harness's), as pydantic models that FastAPI validates and documents in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from wmh.core.types import (
    Action,
    EnvState,
    EpisodeScore,
    Observation,
    Turn,
    check_unicode,
    json_value_problem,
)
from wmh.engine.usage import UsageRecord

_STATE_KEYS = ("structured", "scratchpad")


def _records_alone(schema: dict[str, Any]) -> None:
    """Document the second form `_records` reads: an object with a key other than an EnvState's
    (schemathesis found a body the server took that the schema said it would refuse)."""
    schema["anyOf"].insert(
        1,
        {
            "type": "object",
            "not": {"propertyNames": {"enum": list(_STATE_KEYS)}},
            "title": "Records",
            "description": "The records alone: an object with a key other than "
            + " and ".join(_STATE_KEYS),
        },
    )


class CreateSession(BaseModel):
    # A misspelt `seed_state` is refused rather than starting a session without its records.
    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(default=None, description="What the agent was asked to do.")
    seed_state: EnvState | None = Field(
        default=None,
        description="The environment's records at the start, shown as if the session had "
        'already seen them: `{"structured": {...}, "scratchpad": "..."}`, or the records alone '
        "(an object with other keys), as `WorldModel.new_session` takes them.",
        json_schema_extra=_records_alone,
    )

    @field_validator("seed_state", mode="before")
    @classmethod
    def _records(cls, value: Any) -> Any:
        if isinstance(value, dict) and not set(value) <= set(_STATE_KEYS):
            return {"structured": value}  # the records alone, not an EnvState
        return value

    @model_validator(mode="after")
    def _utf8(self) -> CreateSession:
        check_unicode(self.task or "", "task")
        if self.seed_state is not None:
            problem = json_value_problem(self.seed_state.structured)
            if problem:
                raise ValueError(f"seed_state: {problem}")
            check_unicode(self.seed_state.scratchpad, "seed_state.scratchpad")
        return self


class SessionCreated(BaseModel):
    session_id: str
    state: EnvState


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    action: Action


# A step's body, in either form: `{"action": {...}}` or the bare action.
STEP_BODY: TypeAdapter[StepRequest | Action] = TypeAdapter(StepRequest | Action)


class StepAnswer(BaseModel):
    observation: Observation
    state: EnvState


class SessionView(BaseModel):
    id: str
    task: str
    state: EnvState
    history: list[Turn]
    usage: UsageRecord
    score: EpisodeScore | None = None


class WorldModelInfo(BaseModel):
    """What a client needs to know to step a model."""

    name: str
    provider: str
    predictor: str
    steps: int
    tools: list[str]
    heldout_score: float | None


class WorldModelList(BaseModel):
    world_models: list[str] = Field(description="Names of the world models served here.")
    models: list[WorldModelInfo] = Field(description="The same models, with their details.")


class ToolSchema(BaseModel):
    description: str
    inputSchema: dict[str, Any]  # noqa: N815 - MCP's spelling


class WorldModelDetail(WorldModelInfo):
    tool_schemas: dict[str, ToolSchema] = Field(
        description="Each tool with its argument JSON schema, inferred from the recorded calls."
    )


class Health(BaseModel):
    status: str
    version: str
    models: list[str]
    pid: int = Field(description="The worker process that answered (several may serve).")


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    """A 422 of the request's shape: what is wrong, field by field (as FastAPI words it)."""

    detail: list[FieldProblem]
