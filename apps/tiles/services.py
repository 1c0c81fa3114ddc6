"""Writes for the basemap: importing streets from an OpenStreetMap extract."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.gis.gdal import DataSource, GDALException
from django.contrib.gis.gdal.feature import Feature
from django.contrib.gis.gdal.libgdal import lgdal
from django.contrib.gis.gdal.prototypes import ds as capi
from django.contrib.gis.geos import LineString
from django.db import transaction

from apps.audit.models import AuditAction
from apps.audit.services import audit_record

from .models import Street

# Ways tagged highway=* that are not (or no longer, or not yet) streets anyone can use.
NOT_STREETS = frozenset({"proposed", "construction", "abandoned", "disused", "razed", "platform", "raceway"})
BATCH = 2000


class StreetImportError(Exception):
    """The file cannot be read as OpenStreetMap data (missing, not OSM, no "lines" layer)."""


@dataclass
class StreetImportResult:
    """What one streets import did."""

    file: str
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()) or "none"
        return (
            f"streets: {self.imported} imported from {self.file}, {skipped} skipped ({reasons}) in {self.seconds:.1f}s"
        )


class _DuplicateCounter(logging.Filter):
    """Counts, and keeps out of the log, GDAL's complaints about elements an extract holds twice
    (merged extracts repeat the nodes and ways where their areas overlap; the first copy is used)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "UNIQUE constraint failed" in record.getMessage():
            self.count += 1
            return False
        return True


@contextmanager
def _osm_reading() -> Iterator[_DuplicateCounter]:
    # GDAL's OSM driver assumes node ids in increasing order (true of planet extracts, not of merged
    # ones); its general index handles any order, for a little more time.
    lgdal.CPLSetThreadLocalConfigOption(b"OSM_USE_CUSTOM_INDEXING", b"NO")
    counter = _DuplicateCounter()
    gis_log = logging.getLogger("django.contrib.gis")
    gis_log.addFilter(counter)
    try:
        yield counter
    finally:
        gis_log.removeFilter(counter)
        lgdal.CPLSetThreadLocalConfigOption(b"OSM_USE_CUSTOM_INDEXING", None)


def _features(layer) -> Iterator[Feature]:
    # Django's Layer iterates up to its feature count, which the OSM driver does not know (-1) until
    # it has read the whole file: read until GDAL has no next feature instead.
    capi.reset_reading(layer.ptr)
    while True:
        try:
            pointer = capi.get_next_feature(layer.ptr)
        except GDALException:  # a NULL feature: the end of the layer
            return
        yield Feature(pointer, layer)


def _looks_like_osm(path: Path) -> bool:
    """An OSM PBF file names its first block "OSMHeader"; an OSM XML file has an <osm> root."""
    with path.open("rb") as handle:
        head = handle.read(512)
    return b"OSMHeader" in head[:64] or b"<osm" in head


def _streets(path: Path, result: StreetImportResult):
    try:
        source = DataSource(str(path))
        lines = source["lines"]  # GDAL's OSM driver: ways that are not areas
    except (GDALException, IndexError) as exc:
        raise StreetImportError(f"{path}: not an OpenStreetMap file with a 'lines' layer ({exc})") from None
    fields = set(lines.fields)
    if not {"osm_id", "highway", "name"} <= fields:
        raise StreetImportError(f"{path}: the 'lines' layer has no osm_id/highway/name fields")
    for feature in _features(lines):
        kind = (feature.get("highway") or "").strip()
        if not kind:
            result.skipped["not a highway"] += 1
            continue
        if kind in NOT_STREETS:
            result.skipped[f"highway={kind}"] += 1
            continue
        geom = feature.geom.geos
        if not isinstance(geom, LineString) or len(geom) < 2:
            result.skipped["not a line"] += 1
            continue
        geom.srid = 4326
        yield Street(
            osm_id=int(feature.get("osm_id")),
            name=(feature.get("name") or "")[:200],
            kind=kind[:32],
            geom=geom,
            source=path.name[:200],
        )


@transaction.atomic
def streets_import_osm(*, path: Path) -> StreetImportResult:
    """Load the highway ways of an OSM extract (.osm or .osm.pbf) as basemap streets.

    Ways already imported (same OSM id, from any file) and every street of an earlier import of the
    same file are replaced, so importing a newer extract of an area updates it. One audit event."""
    if not path.is_file():
        raise StreetImportError(f"{path}: no such file")
    if not _looks_like_osm(path):
        # GDAL picks its driver from the content: refuse anything but OSM (a VRT or other
        # container could make GDAL open further files or URLs).
        raise StreetImportError(f"{path}: not an OpenStreetMap .osm (XML) or .osm.pbf file")
    started = time.monotonic()
    result = StreetImportResult(file=path.name)
    with _osm_reading() as duplicates:
        streets = {street.osm_id: street for street in _streets(path, result)}
    if duplicates.count:
        result.skipped["duplicate OSM elements in the file"] += duplicates.count
    Street.objects.filter(source=path.name[:200]).delete()
    ids = list(streets)
    for i in range(0, len(ids), BATCH):
        Street.objects.filter(osm_id__in=ids[i : i + BATCH]).delete()
    Street.objects.bulk_create(streets.values(), batch_size=BATCH)
    result.imported = len(streets)
    result.kinds = Counter(street.kind for street in streets.values())
    result.seconds = time.monotonic() - started
    audit_record(
        user=None,
        action=AuditAction.IMPORT,
        object_type="streets",
        detail={"file": path.name, "imported": result.imported, "skipped": dict(result.skipped)},
    )
    return result
