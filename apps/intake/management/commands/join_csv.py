"""`manage.py join_csv DATA LOOKUP --on COLUMN --out FILE`: add a lookup file's columns to each data row.

For CAD exports that publish the coordinates of their (block-masked) locations in a separate file, as
St. Louis does:

    manage.py join_csv stlouis_cfsraw.csv stlouis_cfs_location_geocoded.csv --on location --out cfs.csv
    manage.py import_layer incidents cfs.csv --agency SLMPD --mapping fixtures/mappings/stlouis_cfs.json

Every data row is written once, in order; a row whose key the lookup lacks gets empty lookup columns (so the
import rejects it with "no location" rather than losing it unseen). The count of unmatched rows is printed.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            # Rows are keyed by the names as the header spells them: " location" is the key column too.
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            return list(reader.fieldnames), list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None


class Command(BaseCommand):
    help = "Join a lookup CSV (e.g. geocoded locations) onto a data CSV by one key column."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("data", type=Path)
        parser.add_argument("lookup", type=Path)
        parser.add_argument("--on", required=True, help="the key column, present in both files")
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, data: Path, lookup: Path, on: str, out: Path, **options) -> None:
        columns, rows = _read(data)
        lookup_columns, lookup_rows = _read(lookup)
        for name, header in ((data, columns), (lookup, lookup_columns)):
            if on not in header:
                raise CommandError(f"{name.name} has no column {on!r}; columns are {', '.join(header)}")
        table: dict[str, dict[str, str]] = {}
        for row in lookup_rows:
            table.setdefault(
                (row.get(on) or "").strip(), row
            )  # the first entry of a key wins, as in the lookup's order
        added = [name for name in lookup_columns if name != on and name not in columns]
        unmatched = 0
        try:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=[*columns, *added], extrasaction="ignore")
                writer.writeheader()
                for row in rows:
                    found = table.get((row.get(on) or "").strip())
                    unmatched += found is None
                    writer.writerow({**row, **{name: (found or {}).get(name, "") for name in added}})
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
        self.stdout.write(f"{len(rows)} rows written to {out}, {unmatched} without a match in {lookup.name}")
