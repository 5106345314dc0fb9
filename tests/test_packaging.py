"""The distribution as a new user installs it: build, check, install without extras, run.

One test, run on CI's first line only (marker `packaging`), offline:
1. `python -m build --no-isolation` builds the sdist and the wheel from a copy of the
   sources (the wheel from the unpacked sdist, so the sdist is complete), and
   `twine check` checks both.
2. A clean venv (no pip of its own: this environment's `pip --python` installs into it)
   gets the wheel (`pip install --no-deps --no-index`) and only the
   distributions its core requirements need, resolved from the wheel's own metadata
   (markers evaluated, no extras) and linked from this environment, so no network is
   needed; `pip check` then proves the core requirements are complete. Redis, Postgres,
   RQ, gunicorn, uvicorn and prometheus-client are absent.
3. In that venv, the core runs the SQLite demo: a tiny settings module, `check`,
   `migrate`, `yamlgraph sync`, and a session of graphs/interview.yaml started, answered
   twice and completed through the service.
4. Asking that venv for a Redis checkpointer, the Redis event log or RQ is a clear
   error naming `pip install "yamlgraph-django[...]"`, at use and as a system check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION = "yamlgraph-django"
#: Packages of the extras that must not reach a core install.
EXTRA_MODULES = [
    "redis",
    "psycopg",
    "psycopg_pool",
    "langgraph.checkpoint.redis",
    "langgraph.checkpoint.postgres",
    "langgraph_checkpoint_plainredis",
    "django_tasks_rq",
    "rq",
    "gunicorn",
    "uvicorn",
    "prometheus_client",
]
SKIP_COPY = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", "__pycache__", "*.egg-info", "build", "dist", "*.sqlite3*"
)

pytestmark = pytest.mark.packaging


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; fail with its output when it fails."""
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


def core_requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [
        line.partition(":")[2].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions that `requirements` (no extras) need, transitively."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    pending = [(line, "") for line in requirements]
    while pending:
        line, extra = pending.pop()
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(requirement.name)
        if key in found:
            if not requirement.extras:
                continue
        else:
            found[key] = metadata.distribution(requirement.name)
        for wanted in [""] + sorted(requirement.extras):
            pending += [(sub, wanted) for sub in found[key].requires or []]
    return list(found.values())


def site_packages(venv: Path) -> Path:
    [path] = venv.glob("lib/python3*/site-packages")
    return path


def link_distributions(distributions: list[metadata.Distribution], target: Path) -> None:
    """Make each distribution importable in `target` by linking its files (and metadata)."""
    for dist in distributions:
        for file in dist.files or []:
            parts = Path(file).parts
            if not parts or parts[0] == ".." or "__pycache__" in parts:
                continue
            destination = target / file
            if destination.exists() or destination.is_symlink():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.symlink_to(Path(dist.locate_file(file)).resolve())


SETTINGS = """\
import os
from pathlib import Path

import django

HERE = Path(__file__).resolve().parent
SECRET_KEY = "packaging-test"
DEBUG = True
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "yamlgraph_django",
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS.append("django_tasks_db")
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "demo_urls"
STATIC_URL = "static/"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "db.sqlite3"}}
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
YAMLGRAPH = {
    "GRAPH_DIRS": [HERE / "graphs"],
    "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": str(HERE / "checkpoints.sqlite3")},
}
# Optional parts the test asks for, to see the missing extra named.
if os.environ.get("DEMO_CHECKPOINTER"):
    YAMLGRAPH["CHECKPOINTER_OVERRIDE"] = {
        "type": os.environ["DEMO_CHECKPOINTER"],
        "url": "redis://127.0.0.1:1/0",
    }
if os.environ.get("DEMO_EVENTS_URL"):
    YAMLGRAPH["EVENTS_URL"] = os.environ["DEMO_EVENTS_URL"]
if os.environ.get("DEMO_RQ"):
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
"""

URLS = """\
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("yamlgraph_django.api.urls")),
]
"""

DEMO = """\
import json
import sys

import django

django.setup()
from django.core.management import call_command

import yamlgraph_django
from yamlgraph_django.services import resume_session, start_session

call_command("check")
call_command("migrate", verbosity=0, interactive=False)
call_command("yamlgraph", "sync")
session = start_session("interview", {"topic": "packaging"})
first = session.status
resume_session(session, "Ada")
resume_session(session, "ship it")
print(json.dumps({
    "package": yamlgraph_django.__file__,
    "first": str(first),
    "status": str(session.status),
    "output": session.output,
}))
"""

MISSING = """\
import json

import django

try:
    django.setup()
except Exception as exc:  # a task backend is looked up while the apps load
    print(json.dumps({"setup": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
from django.core.management import call_command
from django.core.management.base import SystemCheckError

result = {}
try:
    call_command("check")
except SystemCheckError as exc:
    result["check"] = str(exc)
try:
    from yamlgraph.storage import get_checkpointer
    from yamlgraph_django.events import event_log
    from django.conf import settings

    override = settings.YAMLGRAPH.get("CHECKPOINTER_OVERRIDE")
    if override:
        get_checkpointer(override)
    if settings.YAMLGRAPH.get("EVENTS_URL"):
        event_log()
except Exception as exc:
    result["use"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(result))
"""


def test_the_core_wheel_runs_the_sqlite_demo_without_extras(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=SKIP_COPY, symlinks=True)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ".", cwd=source)
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    checked = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=tmp_path)
    assert checked.count("PASSED") == 2, checked

    # A clean venv: the wheel, and the distributions of its core requirements only.
    venv = tmp_path / "venv"
    # No pip inside (ensurepip is the slowest step): this environment's pip drives it.
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    requirements = core_requirements(wheel)
    assert not any("redis" in r or "psycopg" in r for r in requirements if "extra ==" not in r)
    core = [r for r in requirements if "extra ==" not in r]
    link_distributions(closure(core), site_packages(venv))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    }
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path, env=env)
    run(*pip, "check", cwd=tmp_path, env=env)
    absent = run(
        python,
        "-c",
        "import importlib.util, json, sys; "
        f"print(json.dumps([m for m in {EXTRA_MODULES!r} if importlib.util.find_spec(m)]))",
        cwd=tmp_path,
        env=env,
    )
    assert json.loads(absent) == [], absent

    # The SQLite demo, from a directory outside the repository.
    demo = tmp_path / "demo"
    demo.mkdir()
    shutil.copytree(REPO / "graphs", demo / "graphs", ignore=SKIP_COPY)
    (demo / "demo_settings.py").write_text(SETTINGS)
    (demo / "demo_urls.py").write_text(URLS)
    (demo / "demo.py").write_text(DEMO)
    (demo / "missing.py").write_text(MISSING)
    env["DJANGO_SETTINGS_MODULE"] = "demo_settings"
    output = run(python, "demo.py", cwd=demo, env=env)
    result = json.loads(output.strip().splitlines()[-1])
    assert result["package"].startswith(str(venv)), result
    assert result["first"] == "interrupted"
    assert result["status"] == "completed", result
    assert result["output"]["name"] == "Ada"
    assert result["output"]["goal"] == "ship it"
    assert result["output"]["summary"]

    # Optional parts without their extras: named errors, at use and from `check`.
    cases = [
        ({"DEMO_CHECKPOINTER": "redis-simple"}, "redis", "CHECKPOINTER_OVERRIDE"),
        ({"DEMO_CHECKPOINTER": "redis"}, "redis", "CHECKPOINTER_OVERRIDE"),
        ({"DEMO_EVENTS_URL": "redis://127.0.0.1:1/0"}, "redis", "EVENTS_URL"),
        ({"DEMO_RQ": "1"}, "rq", "TASKS"),
    ]
    for extra_env, extra, where in cases:
        found = json.loads(
            run(python, "missing.py", cwd=demo, env={**env, **extra_env}).strip().splitlines()[-1]
        )
        line = f'pip install "{DISTRIBUTION}[{extra}]"'
        if extra_env.get("DEMO_RQ"):
            # The task is bound to its backend when the app loads: setup itself says it.
            assert found.get("setup", "").startswith("MissingExtra: "), found
            assert line in found["setup"] and where in found["setup"], found
            continue
        assert "yamlgraph.E007" in found.get("check", ""), (extra_env, found)
        assert line in found["check"] and where in found["check"], (extra_env, found)
        assert line in found.get("use", ""), (extra_env, found)
