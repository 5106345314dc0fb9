#!/usr/bin/env python3
"""Django's command-line utility for the reference project.

`./manage.py ...` works from a plain shell: when the interpreter that runs it has no
Django, it re-runs itself with the project's virtualenv (.venv, made by `make install`).
"""

import os
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"


def ensure_django() -> None:
    """Re-exec into .venv's Python if this one cannot import Django; else say what to do."""
    try:
        import django  # noqa: F401
    except ImportError:
        if VENV_PYTHON.exists() and not os.environ.get("YAMLGRAPH_MANAGE_REEXEC"):
            os.environ["YAMLGRAPH_MANAGE_REEXEC"] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        sys.exit(
            "Django is not installed for this Python. Run `make install`, then "
            "`./manage.py ...` (or `.venv/bin/python manage.py ...`)."
        )


def main() -> None:
    ensure_django()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
