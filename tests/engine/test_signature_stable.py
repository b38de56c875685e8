"""The consensus's answer signatures are the same in every process (they once used Python's
salted string hash, so the same model chose, now and then, a different answer per process)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = (
    "from wmh.engine.agreement import signature\n"
    "import hashlib\n"
    'text = \'{"user": {"id": 7, "name": "Ada"}, "orders": [1, 2, 3]} and more words\'\n'
    "print(hashlib.sha256(signature(text).tobytes()).hexdigest())\n"
)


def test_signatures_do_not_depend_on_the_hash_seed() -> None:
    digests = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", CODE],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    assert len(digests) == 1
