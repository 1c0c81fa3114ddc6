"""`manage.py import_streets FILE.osm.pbf`: load the basemap's streets from an OpenStreetMap extract.

    manage.py import_streets ../shared/data/seattle_osm/seattle_osm2streets_merged.osm.pbf

Any OSM extract works (.osm or .osm.pbf, e.g. a city clip from an OSM mirror the agency keeps); the
map then draws those streets from our own server, with no tile server on the internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tiles.services import StreetImportError, streets_import_osm


class Command(BaseCommand):
    help = "Import basemap streets (ways with a highway tag) from an OpenStreetMap .osm or .osm.pbf file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = streets_import_osm(path=options["path"])
        except StreetImportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.summary())
        if options["verbosity"] > 1:
            for kind, count in result.kinds.most_common():
                self.stdout.write(f"  {kind}: {count}")
