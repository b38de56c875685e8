"""The baseline of the HTTP benchmark: a bare FastAPI endpoint that echoes the JSON it is sent.

uvicorn bench.echo_app:app --host 127.0.0.1 --port 8010
"""

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/echo")
async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body
