"""manage.py retention_purge [--class X ...] [--dry-run] [--batch-size N] [--budget SECONDS]

Runs the same purge as the daily Celery task, by hand: e.g. after lowering a period, or to see with --dry-run
what the next run would delete (and what legal holds keep).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.retention.models import DataClass
from apps.retention.selectors import retention_policies
from apps.retention.services import batch_size_default, budget_default, retention_purge_all


class Command(BaseCommand):
    help = "Delete data older than its retention period (not on legal hold), in batches; --dry-run only counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--class",
            dest="classes",
            action="append",
            choices=DataClass.values,
            help="only this data class (repeatable); default: every enabled policy",
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
        parser.add_argument(
            "--batch-size", type=int, default=None, help=f"rows per batch (default {batch_size_default()})"
        )
        parser.add_argument(
            "--budget", type=float, default=None, help=f"seconds for the whole run (default {budget_default():g})"
        )

    def handle(self, *args, classes: list[str] | None, dry_run: bool, batch_size: int | None, budget, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if classes:
            known = {p.data_class: p for p in retention_policies(data_classes=classes, enabled_only=False)}
            for name in classes:
                if name not in known:
                    self.stderr.write(f"{name}: no retention policy; skipped")
                elif not known[name].enabled:
                    self.stderr.write(f"{name}: policy disabled; skipped")
        results = retention_purge_all(
            data_classes=classes, dry_run=dry_run, batch_size=batch_size, budget_seconds=budget
        )
        if not results:
            self.stdout.write("nothing to do: no enabled retention policy")
            return
        head = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{'class':<18} {'cut-off':<20} {head:>12} {'held':>8} {'batches':>8}  status")
        failed = False
        for r in results:
            count = r.would_delete if dry_run else r.rows_deleted
            status = "dry run" if dry_run else ("complete" if r.complete else "budget spent: resumes next run")
            if r.rows_blocked:
                status += f"; {r.rows_blocked} kept by a protecting reference"
            if r.error:
                status, failed = f"ERROR {r.error}", True
            self.stdout.write(
                f"{r.data_class:<18} {r.cutoff:%Y-%m-%d %H:%M:%S} {count:>12} {r.rows_held:>8} {r.batches:>8}  {status}"
            )
        if failed:
            raise CommandError("a purge failed (see its receipt)")
