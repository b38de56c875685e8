"""The floor of bench_http.py's replay rows: `wmh serve`'s own app and session store, with a world
model whose every answer is free (its predictor answers each call's recording from a dict).

What a row served so costs is HTTP, routing, validation, the session's lock, history and usage,
and (with Redis) the store's round trips: no replay step can be served for less. Its ratio to the
echo endpoint is the most a replay row can reach on the machine.

    python bench/floor_app.py --root examples/airline --name airline --port 8011
    python bench/floor_app.py ... --session-store redis --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session-store", default="memory", choices=("memory", "redis"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    import uvicorn

    from wmh.config.schema import ServeConfig
    from wmh.core.types import Observation
    from wmh.engine.predictor import PredictionContext
    from wmh.engine.replay import ReplayPredictor
    from wmh.serving.app import create_app
    from wmh.serving.registry import load_registry

    serve = ServeConfig(session_store=args.session_store, redis_url=args.redis_url)
    registry = load_registry(args.root, [args.name], serve)
    model = registry.get(args.name)
    if not isinstance(model.predictor, ReplayPredictor):
        raise SystemExit(f"{args.name} is not a replay model: its floor is not measured here")
    # Each call answered with its own recording, tagged as replay tags it (so the answers, the
    # turns a session keeps and the bodies sent are the size replay's are), by a dict lookup.
    table = model.retriever.table  # type: ignore[attr-defined]
    answers: dict[str, Observation] = {}
    for key, rows in table.exact.items():
        step = table.step(rows[0])
        metadata = {"source": "corpus_replay", "from_step": step.id}
        answers[key] = step.observation.model_copy(update={"metadata": metadata})
    unrecorded = next(iter(answers.values()))

    def free(context: PredictionContext) -> Observation:
        return answers.get(context.action.key(), unrecorded)

    # The same predictor object (so the server places its steps as it places replay's: a
    # predictor with `apredict` would be awaited instead), its answers free.
    model.predictor.predict = free  # type: ignore[method-assign]
    uvicorn.run(create_app(registry), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
