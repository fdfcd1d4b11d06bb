"""The demo of `make run` on its embedded defaults (SQLite, no Redis): the rest of the suite
runs on PostgreSQL, so SQL that only PostgreSQL understands would break the demo unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_guest_buys_a_card_is_scanned_and_privacy_runs_on_the_sqlite_demo(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "demo_smoke.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert "demo loaded" in lines
    assert "public pages served" in lines
    assert any(line.startswith("order paid ") for line in lines), result.stdout
    assert "card scanned twice" in lines
    assert "admin pages served" in lines
    assert "access bundle and erasure preview read" in lines
    assert any(line.startswith("purge ran ") for line in lines), result.stdout
