"""Screenshots of what a user sees, taken in a headless browser with no internet.

Builds a two-member sweep of the airline example into a fresh store, starts `wmh ui` (MLflow) and
`wmh serve` on 127.0.0.1, and photographs, in headless Chromium driven by Playwright: the MLflow
experiment page, one run's page, the comparison of the two runs, and `wmh serve`'s `/docs` and
`/redoc`. Every request to an address other than 127.0.0.1 is refused (and counted), so the pages
must render from local files. It checks what each picture must show and fails if it does not:
the experiment opens on its runs table with both runs, a run page shows held-out fidelity in the
first view, the comparison names both runs, and the docs pages are rendered (not blank).

    python scripts/screenshots.py                 # PNGs in .wmh/screenshots/
    python scripts/screenshots.py --out DIR --browser /usr/bin/chromium

Needs Chromium (Debian: `apt-get install chromium`) and Playwright's Python package
(`pip install playwright`; its own browser download is not used): `make screenshots` installs
both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from wmh.cli.ui import MODEL_TRAINING  # the mode `wmh ui`'s links name

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Chromium's own background traffic off (this machine has no internet to give it).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urlopen(url, timeout=5) as answer:  # noqa: S310 - 127.0.0.1 only
                if answer.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {seconds:.0f}s")
        time.sleep(0.5)


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def build_sweep(store: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "wmh.build", "-m", "name=shots",
            "data.files=[examples/airline/traces.otel.jsonl]", f"root={store}",
            "retrieval.top_k=3,5", f"hydra.sweep.dir={store / 'multirun'}",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the sweep failed:\n{done.stderr[-2000:]}")


def runs_of(store: Path) -> tuple[str, list[tuple[str, str]]]:
    """The experiment id and the (run id, run name) of its runs."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("shots")
    if experiment is None:
        raise SystemExit("no MLflow experiment 'shots' was logged")
    runs = client.search_runs([experiment.experiment_id])
    return experiment.experiment_id, [(r.info.run_id, r.info.run_name) for r in runs]


class Shooter:
    """One headless page; refuses and counts every request that is not to 127.0.0.1."""

    def __init__(self, browser_path: str, out: Path) -> None:
        from playwright.sync_api import sync_playwright

        self.out = out
        self.refused: list[str] = []
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=browser_path, args=FLAGS)
        self.page = self._browser.new_page(viewport={"width": 1440, "height": 900})
        self.page.route("**/*", self._only_local)

    def _only_local(self, route, request) -> None:  # noqa: ANN001 - Playwright's objects
        host = request.url.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
        if request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.refused.append(request.url)
            route.abort()

    def shoot(self, name: str, url: str, wait_text: str, seconds: float = 60) -> None:
        """Open `url`, wait until `wait_text` is visible, save `name.png`."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.goto(url)
        try:
            self.page.get_by_text(wait_text, exact=False).first.wait_for(timeout=seconds * 1000)
        except PlaywrightTimeout:
            self.page.screenshot(path=str(self.out / f"{name}.failed.png"))
            raise SystemExit(f"{url}: '{wait_text}' never showed (see {name}.failed.png)") from None
        self.page.wait_for_timeout(1500)  # let tables and charts settle
        self.page.screenshot(path=str(self.out / f"{name}.png"))

    def in_first_view(self, *texts: str) -> bool:
        """Every text is on screen without scrolling (the first match of each)."""
        for text in texts:
            found = self.page.get_by_text(text, exact=False).first
            box = found.bounding_box() if found.count() else None
            if box is None or box["y"] < 0 or box["y"] > self.page.viewport_size["height"]:
                return False
        return True

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".wmh" / "screenshots")
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--store", type=Path, default=None, help="reuse a store built before")
    args = parser.parse_args()
    if not Path(args.browser).is_file():
        raise SystemExit(f"no Chromium at {args.browser} (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wmh-shots-"))
    store = args.store or work / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="120")
    if not (store / "mlflow.db").is_file():
        print(f"building a two-member sweep of the airline example in {store}", flush=True)
        build_sweep(store, env)
    experiment, runs = runs_of(store)
    ui_port, serve_port = free_port(), free_port()
    ui = start(
        [str(BIN / "wmh"), "ui", "--root", str(store), "--port", str(ui_port)], env, work / "ui.log"
    )
    serve = start(
        [str(BIN / "wmh"), "serve", "--root", str(store), "--port", str(serve_port)],
        env,
        work / "serve.log",
    )
    checks: dict[str, bool] = {}
    shooter = None
    try:
        ui_url, serve_url = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{serve_port}"
        wait_for(f"{ui_url}/health")
        wait_for(f"{serve_url}/healthz")
        shooter = Shooter(args.browser, args.out)
        first, second = runs[0], runs[1]
        # The experiment as a user opens it: from the link `wmh ui` printed for it.
        printed = (work / "ui.log").read_text()
        link = next(
            line.split(": ", 1)[1].strip()
            for line in printed.splitlines()
            if line.strip().startswith("shots: ")
        )
        shooter.shoot("mlflow-experiment", link, first[1], 120)
        checks["experiment opens on its runs table with both runs"] = shooter.in_first_view(
            first[1], second[1]
        ) and not shooter.in_first_view("No data available")
        shooter.shoot(
            "mlflow-run",
            f"{ui_url}/#/experiments/{experiment}/runs/{first[0]}?{MODEL_TRAINING}",
            "Held-out fidelity",
        )
        checks["a run page shows held-out fidelity in the first view"] = shooter.in_first_view(
            "Held-out fidelity", "nn_copy"
        )
        ids = json.dumps([first[0], second[0]])
        shooter.shoot(
            "mlflow-compare",
            f"{ui_url}/#/compare-runs?runs={ids}&experiments={json.dumps([experiment])}"
            f"&{MODEL_TRAINING}",
            first[1],
        )
        checks["the comparison shows both runs and held-out fidelity"] = shooter.in_first_view(
            first[1], second[1], "heldout.fidelity"
        )
        shooter.shoot("serve-docs", f"{serve_url}/docs", "wmh world models")
        checks["/docs is rendered (Swagger UI lists the routes)"] = shooter.in_first_view(
            "/world_models/{name}/sessions"
        )
        shooter.shoot("serve-redoc", f"{serve_url}/redoc", "wmh world models")
        checks["/redoc is rendered (ReDoc shows the routes)"] = shooter.in_first_view(
            "Liveness; never needs a token", "Download OpenAPI specification"
        )
    finally:
        if shooter is not None:
            shooter.close()
        stop(ui)
        stop(serve)
    for check, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    refused = sorted(set(shooter.refused)) if shooter else []
    print(f"requests refused (not to 127.0.0.1): {len(refused)}")
    for url in refused[:10]:
        print(f"  {url}")
    print(f"screenshots in {args.out}: {', '.join(sorted(p.name for p in args.out.glob('*.png')))}")
    shutil.rmtree(work, ignore_errors=True)
    if not all(checks.values()) or len(checks) < 5:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
