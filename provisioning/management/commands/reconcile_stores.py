"""`manage.py reconcile_stores [--dry-run]`: compare the stores with what the cluster really has."""

from django.core.management.base import BaseCommand

from provisioning.recovery import reconcile


class Command(BaseCommand):
    help = "Fail ready stores whose namespace or release vanished, remediate stuck releases, report orphans."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        lines = reconcile(dry_run=dry_run)
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(f"reconcile_stores: {len(lines)} finding(s){' (dry run)' if dry_run else ''}")
