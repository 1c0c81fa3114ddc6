"""The numbers behind the hotspot layers, on arrays only (no database): H3 cells and counts, the study
area's grid, Getis-Ord Gi* (PySAL esda) and a binned Gaussian kernel density surface (numpy + scipy.ndimage).

Gi* classes follow the convention of ArcGIS's Hot Spot Analysis: the sign of the z-score says hot or
cold, a two-sided test on it says how confident (90/95/99%). The class comes from the analytical
z-score (`p_norm`), the classical Getis-Ord statistic; esda's permutation p-value (`p_sim`) is
reported beside it. esda permutes conditionally (a cell's own count stays put while its neighbours
are shuffled), so p_sim answers "is this cell's *neighbourhood* unusual given its own count" and a
single very busy cell with quiet neighbours does not reach significance by it: a different question,
shown for the analyst, not used for the colour unless the run asks for `inference="permutation"`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h3
import numpy as np
from h3.api import basic_int as h3i

from .choices import HotClass

# A study area polyfilled into more cells than this is refused: the weights and the permutations grow
# with it, and the answer would be too large to draw.
MAX_STUDY_CELLS = 60_000
# Cells less than this share inside the study area are left out of Gi* (see study_grid).
MIN_EXPOSURE = 0.25
# A KDE grid is coarsened until it has at most this many cells.
MAX_KDE_CELLS = 20_000
# KDE cells below this share of the peak density are left out of the answer (they draw as nothing).
KDE_FLOOR = 0.05
CONFIDENCE_LEVELS = ((99, 0.01), (95, 0.05), (90, 0.10))


@dataclass
class Points:
    """Distinct incident locations and how many incidents each holds (the database groups them)."""

    lon: np.ndarray
    lat: np.ndarray
    n: np.ndarray

    @property
    def total(self) -> int:
        return int(self.n.sum())

    @classmethod
    def from_rows(cls, rows: list[tuple[float, float, int]]) -> Points:
        if not rows:
            empty = np.zeros(0)
            return cls(empty, empty, empty)
        arr = np.asarray(rows, dtype=float)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2])


@dataclass
class Timings:
    """Milliseconds per stage, in the order they ran."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0) + (time.perf_counter() - t0) * 1000, 1)


def cells_of(points: Points, resolution: int) -> np.ndarray:
    """The H3 cell (as uint64) of every point. h3 has no array entry point, so one C call per point."""
    to_cell = h3i.latlng_to_cell
    return np.fromiter(
        (to_cell(lat, lon, resolution) for lat, lon in zip(points.lat.tolist(), points.lon.tolist(), strict=True)),
        dtype=np.uint64,
        count=len(points.lat),
    )


def cell_counts(points: Points, resolution: int) -> dict[int, int]:
    """Incidents per occupied H3 cell."""
    if not len(points.lat):
        return {}
    cells = cells_of(points, resolution)
    unique, inverse = np.unique(cells, return_inverse=True)
    counts = np.bincount(inverse, weights=points.n)
    return {int(c): int(round(n)) for c, n in zip(unique.tolist(), counts.tolist(), strict=True)}


@dataclass
class Grid:
    """The study area as H3 cells, each with its exposure: the share of the cell inside the area."""

    cells: list[int]
    exposure: np.ndarray


def study_grid(*, occupied: set[int], resolution: int, area: dict | None, points: Points) -> Grid:
    """Every H3 cell of the study area, zero-count cells included, so Gi* compares each cell with the
    whole area and not only with its busy part.

    The area is the agency's zones (city limits, districts, beats) when it has any, else the convex
    hull of the incidents themselves. A cell on the area's edge is only partly inside it, so fewer
    incidents can fall in it; left as it is, that edge would read as cold and the interior as hot
    even in a uniform field (we measured 8-12% of cells "hot at 95%" on uniform data). So each cell's
    exposure (share of its area inside) is kept, Gi* runs on count / exposure, and cells less than
    MIN_EXPOSURE inside are left out (their incidents are mostly outside the area).
    """
    import shapely

    if area is None and len(points.lat) >= 3:
        area = _hull_polygon(points)
    if area is None:
        cells = sorted(occupied | {n for c in occupied for n in h3i.grid_disk(c, 1)})
        return Grid(cells, np.ones(len(cells)))
    candidates = set(occupied) | set(h3i.geo_to_cells(area, resolution))
    if len(candidates) > MAX_STUDY_CELLS:
        raise ValueError(
            f"the study area holds {len(candidates):,} H3 cells at resolution {resolution} "
            f"(at most {MAX_STUDY_CELLS:,}); use a coarser resolution"
        )
    cells = sorted(candidates)
    polygons = shapely.polygons([[(lng, lat) for lat, lng in h3i.cell_to_boundary(c)] for c in cells])
    region = shapely.geometry.shape(area)
    shapely.prepare(region)
    exposure = shapely.area(shapely.intersection(polygons, region)) / shapely.area(polygons)
    keep = exposure >= MIN_EXPOSURE
    return Grid([c for c, k in zip(cells, keep.tolist(), strict=True) if k], np.minimum(exposure[keep], 1.0))


def _hull_polygon(points: Points) -> dict | None:
    from scipy.spatial import ConvexHull, QhullError

    xy = np.column_stack([points.lon, points.lat])
    xy = np.unique(xy, axis=0)
    if len(xy) < 3:
        return None
    try:
        hull = ConvexHull(xy)
    except QhullError:  # all points on a line: no area to fill
        return None
    ring = [[float(x), float(y)] for x, y in xy[hull.vertices]]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def adjacency_weights(cells: list[int]):
    """libpysal weights from H3 adjacency (the six cells sharing an edge, where they are in the area)."""
    from libpysal.weights import W

    index = set(cells)
    neighbours = {c: [n for n in h3i.grid_ring(c, 1) if n in index] for c in cells}
    return W(neighbours, id_order=cells, silence_warnings=True)


@dataclass
class GiStar:
    """Gi* per cell, in the order of `cells`."""

    cells: list[int]
    counts: np.ndarray
    exposure: np.ndarray
    z: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray | None
    classes: list[str]


def gi_star(
    grid: Grid, counts: dict[int, int], w, *, permutations: int, seed: int, inference: str = "normal"
) -> GiStar:
    """Getis-Ord Gi* (esda.G_Local, star=True, binary weights with each cell its own neighbour) on
    each cell's count divided by its exposure."""
    import esda

    cells = grid.cells
    raw = np.array([counts.get(c, 0) for c in cells], dtype=float)
    y = raw / grid.exposure
    if y.sum() == 0 or len(cells) < 3:
        zeros = np.zeros(len(cells))
        return GiStar(cells, raw, grid.exposure, zeros, np.ones(len(cells)), None, [HotClass.NONE.value] * len(cells))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # A constant field has no variance (z is 0). esda warns that its default alternative for p_sim
        # will become two-sided; p_sim is documented here as esda's one-sided (folded) value.
        warnings.simplefilter("ignore", DeprecationWarning)
        g = esda.G_Local(
            y, w, transform="B", star=True, permutations=permutations, seed=seed, n_jobs=1, keep_simulations=False
        )
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
    p_norm = np.nan_to_num(np.asarray(g.p_norm, dtype=float), nan=1.0)
    p_sim = np.asarray(g.p_sim, dtype=float) if permutations else None
    one_sided = p_sim if (inference == "permutation" and p_sim is not None) else p_norm
    return GiStar(cells, raw, grid.exposure, z, p_norm, p_sim, classify(z, one_sided))


def classify(z: np.ndarray, p_one_sided: np.ndarray) -> list[str]:
    """Hot/cold at 99/95/90% from the z sign and a two-sided p (twice esda's one-sided p)."""
    out = []
    for zi, pi in zip(z.tolist(), p_one_sided.tolist(), strict=True):
        p_two = min(1.0, 2 * pi)
        label = HotClass.NONE.value
        for level, alpha in CONFIDENCE_LEVELS:
            if p_two <= alpha and zi != 0:
                label = f"{'hot' if zi > 0 else 'cold'}{level}"
                break
        out.append(label)
    return out


def confidence(label: str) -> int:
    """99, 95, 90 for a hot class, 0 otherwise."""
    return int(label[3:]) if label.startswith("hot") else 0


def cell_polygon(cell: int) -> dict:
    ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3i.cell_to_boundary(cell)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def cell_id(cell: int) -> str:
    return h3.int_to_str(cell)


def gi_features(gi: GiStar, *, keep_empty: bool = False) -> list[dict]:
    """GeoJSON features, one per cell with incidents or a significant class (the quiet empty
    background is left out: it draws as nothing and would multiply the answer's size)."""
    features = []
    for i, cell in enumerate(gi.cells):
        count = int(gi.counts[i])
        label = gi.classes[i]
        if not keep_empty and count == 0 and label == HotClass.NONE:
            continue
        props = {
            "cell": cell_id(cell),
            "count": count,
            "exposure": round(float(gi.exposure[i]), 3),
            "z": round(float(gi.z[i]), 3),
            "p_norm": round(float(gi.p_norm[i]), 5),
            "p_sim": None if gi.p_sim is None else round(float(gi.p_sim[i]), 4),
            "class": label,
        }
        features.append({"type": "Feature", "id": props["cell"], "geometry": cell_polygon(cell), "properties": props})
    return features


def class_counts(labels: list[str]) -> dict[str, int]:
    return {c.value: labels.count(c.value) for c in HotClass if c != HotClass.NONE}


# ---- kernel density ------------------------------------------------------------------------------


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone holding (lon, lat): metres with little distortion across a city."""
    zone = int(math.floor((lon + 180) / 6)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def kde_surface(points: Points, *, bandwidth_m: float, cell_m: float) -> tuple[list[dict], dict]:
    """A Gaussian kernel density surface, fixed bandwidth in metres, on a square grid in the local
    UTM zone: the binned KDE (Wand & Jones; R's KernSmooth bkde2D): incidents counted per grid cell
    (numpy.histogram2d), then smoothed with a Gaussian of sigma = bandwidth (scipy.ndimage.gaussian_filter).
    Cost grows with the grid, not with the incidents (the exact sum over every point took 10-15 s for
    11k locations x 20k cells with scikit-learn's KernelDensity); tests check it against that exact
    estimate.

    Returns GeoJSON features (grid cells at or above KDE_FLOOR of the peak, with the density in
    incidents per km²) and a summary (CRS, cell size actually used, peak).
    """
    from pyproj import Transformer
    from scipy.ndimage import gaussian_filter

    if not len(points.lon):
        return [], {"cells": 0}
    crs = utm_crs(float(np.average(points.lon, weights=points.n)), float(np.average(points.lat, weights=points.n)))
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x, y = forward.transform(points.lon, points.lat)
    pad = 4 * bandwidth_m
    xmin, xmax = float(x.min()) - pad, float(x.max()) + pad
    ymin, ymax = float(y.min()) - pad, float(y.max()) + pad
    cell = float(cell_m)
    if ((xmax - xmin) / cell) * ((ymax - ymin) / cell) > MAX_KDE_CELLS:
        cell = math.sqrt((xmax - xmin) * (ymax - ymin) / MAX_KDE_CELLS)
    nx, ny = max(1, math.ceil((xmax - xmin) / cell)), max(1, math.ceil((ymax - ymin) / cell))
    x_edges = xmin + np.arange(nx + 1) * cell
    y_edges = ymin + np.arange(ny + 1) * cell
    binned, _, _ = np.histogram2d(x, y, bins=[x_edges, y_edges], weights=points.n)
    smooth = gaussian_filter(binned, sigma=bandwidth_m / cell, mode="constant", truncate=4.0)
    density = smooth / (cell * cell) * 1e6  # incidents per km²
    peak = float(density.max())
    ix, iy = np.nonzero(density >= peak * KDE_FLOOR) if peak > 0 else (np.array([], int), np.array([], int))
    x0, y0 = x_edges[ix], y_edges[iy]
    corners_x = np.concatenate([x0, x0 + cell, x0 + cell, x0])
    corners_y = np.concatenate([y0, y0, y0 + cell, y0 + cell])
    lon, lat = back.transform(corners_x, corners_y)
    k = len(ix)
    features = []
    for j in range(k):
        ring = [[round(float(lon[j + m * k]), 6), round(float(lat[j + m * k]), 6)] for m in range(4)]
        ring.append(ring[0])
        value = float(density[ix[j], iy[j]])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"density": round(value, 2), "level": round(value / peak, 3)},
            }
        )
    summary = {
        "crs": crs,
        "cell_m": round(cell, 1),
        "bandwidth_m": bandwidth_m,
        "grid": [nx, ny],
        "cells": k,
        "peak_per_km2": round(peak, 2),
    }
    return features, summary
