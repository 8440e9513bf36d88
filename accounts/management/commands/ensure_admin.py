"""`manage.py ensure_admin`: makes sure the operator account named by ADMIN_EMAIL / ADMIN_PASSWORD exists."""

import os

from django.core.management.base import BaseCommand

from accounts.services import ensure_admin


class Command(BaseCommand):
    help = "Create (or promote) the admin account from ADMIN_EMAIL and ADMIN_PASSWORD; does nothing when unset."

    def add_arguments(self, parser):
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", ""))
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))

    def handle(self, *args, email: str, username: str, **options):
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not email or not password:
            self.stdout.write("ensure_admin: ADMIN_EMAIL and ADMIN_PASSWORD not both set; no admin created.")
            return
        user, changed = ensure_admin(email=email, password=password, username=username)
        state = "created or promoted" if changed else "already present"
        self.stdout.write(f"ensure_admin: admin {user.email} {state}.")
