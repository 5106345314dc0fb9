"""`runserver` alone runs no background runs: at startup it says how to start a worker
when none is alive (a real `manage.py runserver`, on a migrated SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_runserver_says_how_to_start_a_worker(tmp_path):
    settings = tmp_path / "hint_settings.py"
    settings.write_text(
        "from project.settings import *  # noqa\n"
        f"DATABASES['default']['NAME'] = {str(tmp_path / 'db.sqlite3')!r}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YAMLGRAPH_", "DATABASE"))}
    env.update(
        DJANGO_SETTINGS_MODULE="hint_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300)
    log = tmp_path / "runserver.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{free_port()}"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "yamlgraph worker" not in log.read_text():
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = log.read_text()
    assert "no worker is running" in text and "python manage.py yamlgraph worker" in text, text
