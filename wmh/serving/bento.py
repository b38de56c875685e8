"""The BentoML service: one built world model behind the same routes as `wmh serve`.

`wmh package --name NAME` imports `<root>/models/NAME/` into BentoML's model store as `wmh-name`
and runs `bentoml build` with `--arg model=NAME`; the bento then carries that model, and
`bentoml serve wmh-name:latest` answers the routes of DESIGN.md (the FastAPI app is mounted at
`/`). Sessions follow the model's own `serve` config (memory by default); `WMH_REDIS_URL` at serve
time switches them to Redis so replicas share sessions. `WMH_API_TOKEN` turns the bearer token
on, as for `wmh serve`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import bentoml
from pydantic import BaseModel

from wmh.errors import ConfigError
from wmh.scoring.factory import reward_at
from wmh.serving.app import create_app
from wmh.serving.package import bento_model_name
from wmh.serving.registry import Registry, load_model_dir
from wmh.store.settings import model_settings

REDIS_ENV = "WMH_REDIS_URL"


class BentoArgs(BaseModel):
    """`bentoml build --arg model=NAME` (what `wmh package` passes)."""

    model: str = ""


args = bentoml.use_arguments(BentoArgs)
if not args.model:
    raise ConfigError(
        "no world model chosen for the bento: build it with wmh package --name NAME "
        "(or bentoml build --arg model=NAME after importing the model)"
    )

registry = Registry()
app = create_app(registry)


@bentoml.asgi_app(app, path="/")
@bentoml.service(name="wmh", traffic={"timeout": 120})
class WorldModelService:
    world_model = bentoml.models.BentoModel(f"{bento_model_name(args.model)}:latest")

    def __init__(self) -> None:
        model_dir = Path(self.world_model.path)
        settings = model_settings(model_dir)
        serve = settings.serve
        redis_url = os.environ.get(REDIS_ENV)
        if redis_url:
            serve = replace(serve, session_store="redis", redis_url=redis_url)
        # The reward judge the model was built with (`wmh build -o reward=rubric ...`).
        reward = reward_at(settings.reward, settings.provider, None)
        load_model_dir(registry, model_dir, serve, reward)
