"""The HTTP bodies: what the routes take and answer (DESIGN.md's shapes), as pydantic models that
FastAPI validates and documents in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from wmh.core.types import Action, EnvState, Turn


class CreateSession(BaseModel):
    task: str = Field(default="", description="What the agent was asked to do.")


class SessionCreated(BaseModel):
    session_id: str


class StepRequest(BaseModel):
    action: Action


class SessionView(BaseModel):
    id: str
    task: str
    state: EnvState
    history: list[Turn]
    usage: dict[str, float] = Field(
        default_factory=dict,
        description="Steps, prompt/completion tokens, cost and provider latency so far.",
    )


class WorldModelInfo(BaseModel):
    name: str
    provider: str
    predictor: str
    steps: int
    tools: list[str]
    heldout_score: float | None


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


class Problem(BaseModel):
    detail: str
