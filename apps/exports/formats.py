"""Writers for the export formats: each turns rows (from `selectors.export_rows`) into chunks of
text for a streaming response. No database access here; the geometry arrives encoded by PostGIS.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.core.serializers.json import DjangoJSONEncoder

from .layers import ExportLayer

FORMATS = ("geojson", "csv", "kml")
CONTENT_TYPES = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "kml": "application/vnd.google-earth.kml+xml",
}
CSV_GEOMETRIES = ("wkt", "lonlat")

# Spreadsheets run a cell starting with one of these as a formula; addresses, titles and alert
# details come from feeds and people, so such cells get a leading apostrophe (as the audit CSV does).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 forbids outright; a feed's stray control byte must not make the file unreadable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def geojson_chunks(rows: Iterable[dict[str, Any]], *, layer: ExportLayer) -> Iterator[str]:
    """A GeoJSON FeatureCollection, one feature per chunk."""
    yield '{"type":"FeatureCollection","name":' + json.dumps(layer.name) + ',"features":['
    first = True
    for row in rows:
        properties = json.dumps({name: row[name] for name, _ in layer.fields}, cls=DjangoJSONEncoder)
        # The geometry is already GeoJSON text from ST_AsGeoJSON: spliced in, not parsed and re-encoded.
        geometry = row["_geom"] or "null"
        sep = "" if first else ","
        first = False
        yield f'{sep}{{"type":"Feature","id":{json.dumps(row["id"])},"geometry":{geometry},"properties":{properties}}}'
    yield "]}\n"


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = _text(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(rows: Iterable[dict[str, Any]], *, layer: ExportLayer, geometry: str) -> Iterator[str]:
    """CSV with a header; geometry as one `wkt` column or as `lon`,`lat` columns (points only)."""
    writer = csv.writer(_Echo())
    names = [name for name, _ in layer.fields]
    geo_columns = ["wkt"] if geometry == "wkt" else ["lon", "lat"]
    yield writer.writerow(names + geo_columns)
    for row in rows:
        # Coordinates are numbers (or WKT, which starts with a letter): written as they are, never
        # prefixed, so a negative longitude stays a number.
        geo = [_text(row["_geom"])] if geometry == "wkt" else [_text(row["_lon"]), _text(row["_lat"])]
        yield writer.writerow([_cell(row[name]) for name in names] + geo)


def _xml_text(value: Any) -> str:
    return escape(_XML_ILLEGAL.sub("", _text(value)))


def kml_chunks(rows: Iterable[dict[str, Any]], *, layer: ExportLayer) -> Iterator[str]:
    """KML 2.2: one Placemark per record with every column as ExtendedData; the geometry element
    comes from ST_AsKML, the record's time (if the layer has one) as a TimeStamp."""
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<name>{_xml_text(layer.title)}</name>\n"
    )
    time_column = next((name for name, lookup in layer.fields if lookup == layer.time_field), None)
    for row in rows:
        placemark_id = quoteattr(f"{layer.name}.{row['id']}")
        parts = [f"<Placemark id={placemark_id}>"]
        parts.append(f"<name>{_xml_text(row.get(layer.label_field) or row['id'])}</name>")
        if time_column and row[time_column] is not None:
            parts.append(f"<TimeStamp><when>{_xml_text(row[time_column])}</when></TimeStamp>")
        parts.append("<ExtendedData>")
        for name, _ in layer.fields:
            parts.append(f"<Data name={quoteattr(name)}><value>{_xml_text(row[name])}</value></Data>")
        parts.append("</ExtendedData>")
        if row["_geom"]:
            parts.append(row["_geom"])  # PostGIS output: coordinates and tags only, nothing to escape
        parts.append("</Placemark>\n")
        yield "".join(parts)
    yield "</Document></kml>\n"
