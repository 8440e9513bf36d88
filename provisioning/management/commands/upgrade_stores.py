"""`manage.py upgrade_stores --wave N [--store ID ...] [--chart-version V] [--all] [--dry-run]`: the operator's fleet
upgrade, in this process: ready stores (default: those not on the chart the platform ships), oldest first, N at a
time, each rolled back automatically if it does not serve afterwards; it stops at the first store that does not
upgrade and exits non-zero."""

from django.core.management.base import BaseCommand, CommandError

from provisioning.lifecycle import fleet_candidates, fleet_upgrade
from stores import services as store_services


class Command(BaseCommand):
    help = "Upgrade ready stores in waves of N; stop at the first failure (rolled back automatically)."

    def add_arguments(self, parser):
        parser.add_argument("--wave", type=int, required=True, help="Stores upgraded side by side in each wave.")
        parser.add_argument("--store", action="append", default=[], help="Only these store ids (repeatable).")
        parser.add_argument("--chart-version", default=None, help="Target chart version (default: the shipped one).")
        parser.add_argument(
            "--all", action="store_true", dest="include_all", help="Also stores already on the target chart (re-apply)."
        )
        parser.add_argument("--dry-run", action="store_true", help="List the waves; change nothing.")

    def handle(self, *args, wave: int, store: list[str], chart_version, include_all: bool, dry_run: bool, **options):
        if wave < 1:
            raise CommandError("--wave must be at least 1")
        versions = store_services.available_chart_versions()
        if chart_version is not None and chart_version not in versions:
            raise CommandError(f"chart version {chart_version} is not available (available: {', '.join(versions)})")
        candidates = fleet_candidates(chart_version=chart_version, include_current=include_all or bool(store))
        ids = [s for s in candidates if s in set(store)] if store else candidates
        missing = sorted(set(store) - set(ids))
        for store_id in missing:
            self.stdout.write(f"{store_id}: skipped (not a ready store)")
        if dry_run:
            for number, start in enumerate(range(0, len(ids), wave), start=1):
                self.stdout.write(f"wave {number}: {', '.join(ids[start : start + wave])}")
            self.stdout.write(f"upgrade_stores: {len(ids)} store(s) (dry run)")
            return
        lines = fleet_upgrade(ids, wave=wave, chart_version=chart_version, out=self.stdout.write)
        self.stdout.write(f"upgrade_stores: {len(ids)} store(s) selected")
        if any(line.startswith("stopped after wave") for line in lines):
            raise CommandError("stopped at the first store that did not upgrade (see above)")
