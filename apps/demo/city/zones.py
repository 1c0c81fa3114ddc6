"""The city's polygons: the city outline, its districts and the beats cut from them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.contrib.gis.geos.collections import GeometryCollection

from apps.core.geo import SRID

from .spec import CitySpec


def _polygons(geom: GEOSGeometry) -> list[Polygon]:
    """The polygonal parts of an intersection result (which may hold stray lines or points)."""
    if geom.empty:
        return []
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    if isinstance(geom, GeometryCollection):  # MultiPolygon included
        parts: list[Polygon] = []
        for g in geom:
            parts.extend(_polygons(g))
        return parts
    return []


def as_multi(parts: list[Polygon]) -> MultiPolygon:
    multi = MultiPolygon(*[p.clone() for p in parts], srid=SRID)
    if not multi.valid:
        # Parts sharing an edge make an invalid MultiPolygon; buffer(0) dissolves them into one.
        merged = multi.buffer(0)
        multi = MultiPolygon(*_polygons(merged), srid=SRID)
    return multi


def city_geometry(spec: CitySpec) -> MultiPolygon:
    return MultiPolygon(spec.outline.polygon(), srid=SRID)


def district_geometries(spec: CitySpec) -> dict[str, MultiPolygon]:
    city = spec.outline.polygon()
    result = {}
    for d in spec.districts:
        box = Polygon.from_bbox(d.bbox)
        box.srid = SRID
        result[d.code] = as_multi(_polygons(city.intersection(box)))
    return result


@dataclass
class BeatPlan:
    code: str
    district: str
    geom: MultiPolygon


def beat_geometries(spec: CitySpec, districts: dict[str, MultiPolygon]) -> list[BeatPlan]:
    """Cut a grid over the city, split it by district, and fold slivers into a neighbour.

    Busy districts get a finer grid, and cells whose centre lies in a dense box finer still: small
    beats where the calls are, as a real department draws them downtown.
    """
    grid = spec.params["beat_grid"]
    finer = {code: int(k) for code, k in grid.get("finer", {}).items()}
    dense = [(tuple(box["bbox"]), int(box["finer"])) for box in grid.get("dense", [])]
    # Every cell edge is a whole number of lattice steps from the corner, so cells of different
    # sizes still share bit-identical coordinates and the union of neighbours dissolves the edge.
    lattice = math.lcm(1, *finer.values()) * math.lcm(1, *(k for _, k in dense))
    x0, y0, x1, y1 = spec.outline.bbox
    cols, rows = int(grid["cols"]) * lattice, int(grid["rows"]) * lattice
    ux, uy = (x1 - x0) / cols, (y1 - y0) / rows
    min_share = float(grid["min_share"])
    beats: list[BeatPlan] = []
    for d in spec.districts:
        size = lattice // finer.get(d.code, 1)
        dgeom = districts[d.code]
        pieces: list[tuple[GEOSGeometry, float]] = []
        for c, r, n in _cells(cols, rows, size, dense, x0, y0, ux, uy):
            cell = Polygon.from_bbox((x0 + c * ux, y0 + r * uy, x0 + (c + n) * ux, y0 + (r + n) * uy))
            cell.srid = SRID
            if cell.intersects(dgeom):
                pieces.extend((p, cell.area) for p in _polygons(dgeom.intersection(cell)))
        merged = _merge_slivers(pieces, min_share)
        # Number beats north to south, then west to east, as a dispatcher reads a map.
        row_h = size * uy
        merged.sort(key=lambda g: (-round(g.centroid.y / row_h), g.centroid.x))
        for i, piece in enumerate(merged, start=1):
            beats.append(BeatPlan(code=f"{d.code}{i}", district=d.code, geom=as_multi(_polygons(piece))))
    return beats


def _cells(
    cols: int, rows: int, size: int, dense: list, x0: float, y0: float, ux: float, uy: float
) -> Iterator[tuple[int, int, int]]:
    """Grid cells as (col, row, side) in lattice steps, split k x k where their centre is in a dense box."""
    for r in range(0, rows, size):
        for c in range(0, cols, size):
            cx, cy = x0 + (c + size / 2) * ux, y0 + (r + size / 2) * uy
            k = next((k for (bx0, by0, bx1, by1), k in dense if bx0 <= cx < bx1 and by0 <= cy < by1), 1)
            sub = size // k
            for j in range(k):
                for i in range(k):
                    yield c + i * sub, r + j * sub, sub


def _merge_slivers(pieces: list[tuple[GEOSGeometry, float]], min_share: float) -> list[GEOSGeometry]:
    """Fold every piece smaller than min_share of its own cell into the neighbour it borders most."""
    pieces = list(pieces)
    while len(pieces) > 1:
        small_i = min(range(len(pieces)), key=lambda i: pieces[i][0].area / pieces[i][1])
        small, nominal = pieces[small_i]
        if small.area >= nominal * min_share:
            break
        best_j, best_len = None, 0.0
        for j, (other, _) in enumerate(pieces):
            if j != small_i:
                shared = small.intersection(other).length
                if shared > best_len:
                    best_j, best_len = j, shared
        if best_j is None:
            # An island that touches nothing in its district: the nearest piece takes it.
            best_j = min((j for j in range(len(pieces)) if j != small_i), key=lambda j: small.distance(pieces[j][0]))
        other, other_nominal = pieces[best_j]
        pieces = [p for k, p in enumerate(pieces) if k not in (small_i, best_j)]
        pieces.append((other.union(small), max(nominal, other_nominal)))
    return [g for g, _ in pieces]
