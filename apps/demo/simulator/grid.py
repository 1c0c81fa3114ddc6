"""The street grid the simulated units drive on: 100 m blocks clipped to the city outline (see the package
docstring), with the shortest-route helpers dispatch uses.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

from ..city import M_PER_DEG_LAT, Outline
from .model import BLOCK_M


def _crossings(ring: Sequence[tuple[float, float]], value: float, axis: int) -> list[tuple[float, float]]:
    """Inside intervals of the ring along the line where coordinate `axis` equals `value` (even-odd rule)."""
    other = 1 - axis
    cuts = []
    for a, b in zip(ring, ring[1:], strict=False):
        if (a[axis] > value) != (b[axis] > value):
            t = (value - a[axis]) / (b[axis] - a[axis])
            cuts.append(a[other] + t * (b[other] - a[other]))
    cuts.sort()
    return list(zip(cuts[0::2], cuts[1::2], strict=False))


class StreetGrid:
    """Axis-aligned streets every `block_m` metres, clipped to the city outline.

    Coordinates are metres east/north of the outline's south-west corner in one equirectangular
    projection: an affine map, so straight legs stay straight and "inside the outline" means the same
    in metres and in degrees. A street segment exists only when both ends lie in the same inside interval
    of its line, which keeps every point of it on land; only the largest connected piece is kept, so
    every node can reach every other.
    """

    def __init__(self, outline: Outline, block_m: float = BLOCK_M, margin_m: float = 5.0):
        x0, y0, x1, y1 = outline.bbox
        self.lon0, self.lat0 = x0, y0
        self.kx = M_PER_DEG_LAT * math.cos(math.radians((y0 + y1) / 2.0))
        self.block = block_m
        ring = [self.to_xy(lon, lat) for lon, lat in outline.ring]
        width, height = self.to_xy(x1, y1)
        self.nx = int(width // block_m) + 1
        self.ny = int(height // block_m) + 1
        nx, ny = self.nx, self.ny

        def slots(intervals: list[tuple[float, float]], value: float) -> int:
            for k, (lo, hi) in enumerate(intervals):
                if lo + margin_m <= value <= hi - margin_m:
                    return k
            return -1

        row_slot = [-1] * (nx * ny)
        col_slot = [-1] * (nx * ny)
        for j in range(ny):
            intervals = _crossings(ring, self.coord(j), axis=1)
            for i in range(nx):
                row_slot[j * nx + i] = slots(intervals, self.coord(i))
        for i in range(nx):
            intervals = _crossings(ring, self.coord(i), axis=0)
            for j in range(ny):
                col_slot[j * nx + i] = slots(intervals, self.coord(j))
        inside = [r >= 0 and c >= 0 for r, c in zip(row_slot, col_slot, strict=True)]
        neighbours: list[list[int]] = [[] for _ in range(nx * ny)]
        for n in range(nx * ny):
            if not inside[n]:
                continue
            i, j = n % nx, n // nx
            east, north = n + 1, n + nx
            if i + 1 < nx and inside[east] and row_slot[east] == row_slot[n]:
                neighbours[n].append(east)
                neighbours[east].append(n)
            if j + 1 < ny and inside[north] and col_slot[north] == col_slot[n]:
                neighbours[n].append(north)
                neighbours[north].append(n)
        # Narrow necks of the outline can cut a few blocks off; a unit must never be stranded there.
        best: set[int] = set()
        seen = [False] * (nx * ny)
        for n in range(nx * ny):
            if inside[n] and not seen[n]:
                piece = self._flood(n, neighbours, seen)
                if len(piece) > len(best):
                    best = piece
        self.neighbours: list[tuple[int, ...]] = [tuple(neighbours[n]) if n in best else () for n in range(nx * ny)]
        self.nodes: frozenset[int] = frozenset(best)

    @staticmethod
    def _flood(start: int, neighbours: list[list[int]], seen: list[bool]) -> set[int]:
        piece = {start}
        seen[start] = True
        queue = deque([start])
        while queue:
            for m in neighbours[queue.popleft()]:
                if not seen[m]:
                    seen[m] = True
                    piece.add(m)
                    queue.append(m)
        return piece

    def coord(self, index: int) -> float:
        return (index + 0.5) * self.block

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / self.kx, self.lat0 + y / M_PER_DEG_LAT

    def xy(self, node: int) -> tuple[float, float]:
        return self.coord(node % self.nx), self.coord(node // self.nx)

    def snap(self, x: float, y: float) -> int:
        """The street corner nearest to (x, y)."""
        ci = min(self.nx - 1, max(0, round(x / self.block - 0.5)))
        cj = min(self.ny - 1, max(0, round(y / self.block - 0.5)))
        for r in range(max(self.nx, self.ny)):
            ring = [
                j * self.nx + i
                for j in range(max(0, cj - r), min(self.ny, cj + r + 1))
                for i in range(max(0, ci - r), min(self.nx, ci + r + 1))
                if max(abs(i - ci), abs(j - cj)) == r and (j * self.nx + i) in self.nodes
            ]
            if ring:
                return min(ring, key=lambda n: math.dist(self.xy(n), (x, y)))
        raise ValueError("the street grid is empty")

    def tree_to(self, target: int) -> tuple[list[int], list[int]]:
        """Breadth-first from `target`: hops to it from every node (-1: unreachable), and each node's next
        hop towards it."""
        hops = [-1] * (self.nx * self.ny)
        toward = [-1] * (self.nx * self.ny)
        hops[target] = 0
        queue = deque([target])
        while queue:
            n = queue.popleft()
            for m in self.neighbours[n]:
                if hops[m] < 0:
                    hops[m] = hops[n] + 1
                    toward[m] = n
                    queue.append(m)
        return hops, toward

    def route_until(self, start: int, goal: Callable[[int], bool]) -> list[int]:
        """The shortest street route from `start` to the nearest node satisfying `goal` (nodes after start)."""
        came: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            n = queue.popleft()
            if goal(n):
                path = []
                while n != start:
                    path.append(n)
                    n = came[n]
                return path[::-1]
            for m in self.neighbours[n]:
                if m not in came:
                    came[m] = n
                    queue.append(m)
        return []


def bearing_xy(x1: float, y1: float, x2: float, y2: float) -> float:
    return math.degrees(math.atan2(x2 - x1, y2 - y1)) % 360.0
