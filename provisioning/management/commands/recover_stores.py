"""`manage.py recover_stores [--dry-run]`: finish or fail cleanly what lost workers left behind."""

from django.core.management.base import BaseCommand

from provisioning.recovery import recover


class Command(BaseCommand):
    help = "Re-enqueue requested stores, fail interrupted provisioning, resume interrupted deletions."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        lines = recover(dry_run=dry_run)
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(f"recover_stores: {len(lines)} store(s){' (dry run)' if dry_run else ''}")
