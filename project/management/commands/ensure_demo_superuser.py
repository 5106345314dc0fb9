"""`manage.py ensure_demo_superuser`: the admin/admin login that `make run` promises.

Creates superuser `admin` with password `admin` when the database has no superuser, so
a fresh clone can log in to the admin straight away; leaves existing accounts alone.
Also creates the `finance` group (the `approval` graph's assignees) with the demo user
in it, so the question of an approval waits in their inbox.
It refuses to run when DEBUG is False (a guessable superuser on a reachable server is
a takeover waiting to happen) unless `--force` is given.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

USERNAME = "admin"
#: The group the `approval` example graph assigns its question to.
FINANCE_GROUP = "finance"
PASSWORD = "admin"


class Command(BaseCommand):
    help = (
        "Create the local demo superuser admin/admin if no superuser exists, and print "
        "how to log in. For local demos only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/admin/",
            help="Admin URL to print in the login hint (default: %(default)s).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is False.",
        )

    def handle(self, *args: Any, url: str, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is False: refusing to create a superuser with a known password. "
                "Use `manage.py createsuperuser`, or --force for a throwaway demo."
            )
        User = get_user_model()
        superuser = User._default_manager.filter(is_superuser=True).order_by("pk").first()
        if superuser is None:
            User._default_manager.create_superuser(
                **{User.USERNAME_FIELD: USERNAME}, email="", password=PASSWORD
            )
            self.stdout.write(self.style.SUCCESS(f"Created the demo superuser '{USERNAME}'."))
            username, password = USERNAME, PASSWORD
        else:
            username = superuser.get_username()
            password = PASSWORD if superuser.check_password(PASSWORD) else None
        finance, _created = Group.objects.get_or_create(name=FINANCE_GROUP)
        demo = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if demo is not None:
            # The approval graph assigns its question to this group: the demo user finds
            # it in "Waiting for me" at once.
            demo.groups.add(finance)
        self.stdout.write(f"Log in at {url}")
        self.stdout.write(f"  user:     {username}")
        self.stdout.write(f"  password: {password or '(the one you chose)'}")
        if password == PASSWORD:
            self.stdout.write(
                self.style.WARNING(
                    "This login is for the local demo only: change the password or delete "
                    "the user before anyone else can reach this server."
                )
            )
