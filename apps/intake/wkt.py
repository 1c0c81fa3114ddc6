"""Well-known text geometries (POINT, POLYGON, MULTIPOLYGON) read as numbers into GeoJSON-shaped dicts.

Exports from ArcGIS, Socrata and shapefile tools often carry the geometry as one WKT column
(`POINT (-76.609 39.324)`). The text is parsed here, number by number, so user text never reaches
GDAL/GEOS parsers; mapping.geometry_from_geojson then range-checks and builds the geometry.
An EWKT `SRID=4326;` prefix is accepted for WGS84 only; Z/M coordinates are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from apps.intake.errors import RowError

_HEAD = re.compile(r"\s*(?:SRID=(\d+)\s*;\s*)?([A-Za-z]+)\s*(?:(Z|M|ZM)\s*)?(\(.*\))\s*$", re.DOTALL)
_TOKEN = re.compile(r"\(|\)|,|[^\s(),]+")
MAX_WKT_CHARS = 5_000_000
KINDS = {"POINT": "Point", "POLYGON": "Polygon", "MULTIPOLYGON": "MultiPolygon"}


def _nested(text: str) -> Any:
    """'(1 2, 3 4)' -> [[1.0, 2.0], [3.0, 4.0]]; '((...),(...))' -> nested lists."""
    stack: list[list[Any]] = [[]]
    current: list[float] | None = None
    for token in _TOKEN.findall(text):
        if token == "(":
            stack.append([])
            current = None
        elif token == ")":
            if current is not None:
                stack[-1].append(current)
                current = None
            if len(stack) == 1:
                raise RowError("wkt: unbalanced parentheses", field="location")
            done = stack.pop()
            stack[-1].append(done)
        elif token == ",":
            if current is not None:
                stack[-1].append(current)
            current = None
        else:
            try:
                number = float(token)
            except ValueError:
                raise RowError(f"wkt: {token[:40]!r} is not a number", field="location") from None
            if current is None:
                current = []
            current.append(number)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise RowError("wkt: unbalanced parentheses", field="location")
    return stack[0][0]


def geojson_from_wkt(text: str) -> dict[str, Any]:
    """A GeoJSON geometry dict for a WKT POINT / POLYGON / MULTIPOLYGON; RowError naming what is wrong."""
    if len(text) > MAX_WKT_CHARS:
        raise RowError(f"wkt: geometry text is longer than {MAX_WKT_CHARS} characters", field="location")
    match = _HEAD.match(text)
    if match is None:
        raise RowError(f"wkt: {text[:60]!r} is not a WKT geometry", field="location")
    srid, word, _dims, body = match.groups()
    if srid is not None and srid != "4326":
        raise RowError(f"wkt: SRID={srid} is not WGS84 lon/lat (4326)", field="location")
    kind = KINDS.get(word.upper())
    if kind is None:
        raise RowError(f"wkt: {word.upper()} is not supported (POINT, POLYGON, MULTIPOLYGON)", field="location")
    nested = _nested(body)

    def xy(position: Any) -> list[float]:
        if not isinstance(position, list) or len(position) < 2 or not all(isinstance(n, float) for n in position):
            raise RowError(f"wkt: {kind} position must be 'lon lat'", field="location")
        return position[:2]

    try:
        if kind == "Point":
            if not (isinstance(nested, list) and len(nested) == 1):
                raise RowError("wkt: a POINT has one position", field="location")
            return {"type": "Point", "coordinates": xy(nested[0])}
        if kind == "Polygon":
            return {"type": "Polygon", "coordinates": [[xy(p) for p in ring] for ring in nested]}
        return {"type": "MultiPolygon", "coordinates": [[[xy(p) for p in ring] for ring in poly] for poly in nested]}
    except TypeError:
        raise RowError(f"wkt: the {kind} is not nested as WKT says", field="location") from None
