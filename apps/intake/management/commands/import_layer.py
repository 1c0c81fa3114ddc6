"""`manage.py import_layer LAYER PATH`: load an agency's own incidents, cameras, zones, gunshots, ALPR sites,
units or hotlists from a file.

Examples (the presets in fixtures/mappings/ describe the real Seattle files):

    manage.py import_layer zones ../shared/data/seattle_boundaries/spd-beats.geojson --agency SPD \\
        --mapping fixtures/mappings/spd_beats.json
    manage.py import_layer incidents fixtures/samples/incidents.csv --agency SPD \\
        --mapping fixtures/samples/incidents_mapping.json --report rejected.csv
    manage.py import_layer cameras cams.csv --agency SPD --map name=Label --map lon=X --map lat=Y --dry-run
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Agency
from apps.intake.errors import ImportFileError, MappingError
from apps.intake.importer import Rejection, import_layer, write_report
from apps.intake.mapping import MappingSpec, load_mapping_file, mapping_spec_override
from apps.intake.readers import FORMATS
from apps.intake.specs import LAYERS

# Rejections printed while importing at the default verbosity; the --report file has all of them.
SHOWN_REJECTIONS = 20


def _pairs(items: list[str] | None, option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"{option} takes field=value, got {item!r}")
        pairs.append((name.strip(), value))
    return pairs


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    value = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(value, value)
    if len(value) != 1:
        raise CommandError(f"--delimiter must be one character (or 'tab'), got {value!r}")
    return value


class Command(BaseCommand):
    help = (
        "Import incidents, cameras, zones, gunshots, ALPR sites, units or hotlists from a CSV, GeoJSON, JSON or "
        "OpenStreetMap JSON file for one agency."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("layer", choices=sorted(LAYERS))
        parser.add_argument("path", type=Path)
        parser.add_argument("--agency", required=True, help="agency code (the data belongs to it)")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file extension")
        parser.add_argument("--delimiter", help="CSV delimiter (default: guessed from the header, else ',')")
        parser.add_argument("--encoding", default="utf-8-sig", help="CSV text encoding (default utf-8)")
        parser.add_argument("--json-path", help="dotted key of the list of rows inside a JSON object")
        parser.add_argument("--mapping", type=Path, help="mapping JSON file (see fixtures/mappings/README.md)")
        parser.add_argument(
            "--map", action="append", metavar="FIELD=COLUMN", help="read FIELD from COLUMN (repeat for fallbacks)"
        )
        parser.add_argument("--set", action="append", metavar="FIELD=VALUE", help="the same VALUE for every row")
        parser.add_argument("--datetime-format", action="append", help="strptime format (repeatable; ISO 8601 last)")
        parser.add_argument("--tz", help="time zone of naive times (default: the mapping's, else TIME_ZONE)")
        parser.add_argument(
            "--source", default="", help="stored as incident.source (default: the mapping's, else import:FILE)"
        )
        parser.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")
        parser.add_argument("--max-errors", type=int, default=0, help="stop after N bad rows (default: no limit)")
        parser.add_argument("--report", type=Path, help="write the rejected (and flagged) rows to this CSV file")
        parser.add_argument(
            "--outside-area",
            choices=("reject", "flag"),
            default="reject",
            help="a row outside the agency's service area (its zones plus a buffer) or at (0,0): reject it "
            "(default) or import it flagged",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="hotlists: the file is the whole list; entries of its lists that it no longer has are retired "
            "(deactivated), unless a row was rejected",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agency = Agency.objects.filter(code=options["agency"]).first()
        if agency is None:
            known = ", ".join(Agency.objects.order_by("code").values_list("code", flat=True)[:20]) or "none yet"
            raise CommandError(f"unknown agency code {options['agency']!r} (known: {known})")
        if options["max_errors"] < 0:
            raise CommandError("--max-errors must be 0 (no limit) or more")
        report = options["report"]
        if report is not None and not report.resolve().parent.is_dir():
            # Found out now rather than after a long import.
            raise CommandError(f"--report: folder {report.resolve().parent} does not exist")

        fields: dict[str, tuple[str, ...]] = {}
        for name, column in _pairs(options["map"], "--map"):
            fields[name] = (*fields.get(name, ()), column)
        constants = dict(_pairs(options["set"], "--set"))
        verbosity = options["verbosity"]
        shown = 0

        def on_reject(rejection: Rejection) -> None:
            nonlocal shown
            shown += 1
            if verbosity >= 2 or (verbosity == 1 and shown <= SHOWN_REJECTIONS):
                self.stderr.write(f"{rejection.where}: {rejection.reason}")

        try:
            spec = MappingSpec()
            if options["mapping"]:
                spec = load_mapping_file(path=options["mapping"])
            spec = mapping_spec_override(
                spec,
                fields=fields,
                constants=constants,
                datetime_formats=tuple(options["datetime_format"] or ()),
                tz=options["tz"],
            )
            result = import_layer(
                layer=options["layer"],
                path=options["path"],
                agency=agency,
                spec=spec,
                fmt=options["format"],
                delimiter=_delimiter(options["delimiter"]),
                json_path=options["json_path"],
                encoding=options["encoding"],
                source=options["source"],
                dry_run=options["dry_run"],
                max_errors=options["max_errors"] or None,
                on_reject=on_reject,
                outside_area=options["outside_area"],
                replace=options["replace"],
            )
        except (ImportFileError, MappingError) as exc:
            raise CommandError(str(exc)) from None

        for flagged in result.flagged[:SHOWN_REJECTIONS] if verbosity >= 1 else ():
            self.stderr.write(f"{flagged.where}: flagged: {flagged.reason}")
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        if verbosity == 1 and shown > SHOWN_REJECTIONS:
            self.stderr.write(f"... and {shown - SHOWN_REJECTIONS} more rejected rows (see --report, or -v 2)")
        if report is not None:
            try:
                write_report(path=report, result=result)
            except OSError as exc:
                raise CommandError(f"cannot write the report {report}: {exc.strerror or exc}") from None
        self.stdout.write(result.summary())
        if result.rows == 0:
            raise CommandError(f"{options['path'].name} has no data rows")
        if result.accepted == 0:
            raise CommandError(f"every row was rejected ({len(result.rejected)} of {result.rows}); nothing imported")
