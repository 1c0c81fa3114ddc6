"""Hotspot runs: ask for one (reusing an identical recent run), and compute one.

A run is computed by a Celery task (tasks.hotspot_run_compute_task) queued when the request commits;
the periodic refresh computes each agency's default runs so the planner's first look is instant.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import Agency
from apps.core.queue import enqueue_on_commit

from . import analysis, selectors
from .analysis import Timings
from .choices import RunKind, RunStatus
from .models import STALE_ERROR, HotspotRun, stale_runs_q
from .params import SEED, normalise, params_hash

logger = logging.getLogger(__name__)

# The default runs the periodic refresh keeps warm for every agency (last 28 days, all types).
DEFAULT_RUNS: tuple[tuple[str, dict], ...] = ((RunKind.GISTAR, {}), (RunKind.KDE, {}))


def hotspot_run_request(
    *, agency: Agency, kind: str, raw_params: Any, user=None, dispatch: bool = True
) -> tuple[HotspotRun, bool]:
    """The run answering (kind, params) for the agency: an identical one still computing or finished
    within RTCC_HOTSPOT_CACHE_SECONDS, else a new pending run queued for computation on commit.
    Returns (run, created). Bad parameters raise ValidationError naming each one; a broker that
    cannot take the task raises BrokerUnavailable, after the new run is marked failed with the reason
    (so it is never reused)."""
    today = timezone.localtime(timezone.now(), _tz(agency)).date()
    # The agency's type codes are read only when types are asked for (a DISTINCT over its incidents).
    wants_types = isinstance(raw_params, dict) and bool(raw_params.get("types"))
    known = selectors.incident_type_codes(agency_id=agency.pk) if wants_types else set()
    params = normalise(kind, raw_params, known_types=known, today=today)
    digest = params_hash(kind, params)
    cached = selectors.hotspot_run_reusable(
        agency_id=agency.pk, kind=kind, digest=digest, max_age_seconds=settings.RTCC_HOTSPOT_CACHE_SECONDS
    )
    if cached is not None:
        return cached, False
    run = HotspotRun.objects.create(agency=agency, kind=kind, params=params, params_hash=digest, created_by=user)
    if dispatch:
        from .tasks import hotspot_run_compute_task

        enqueue_on_commit(
            hotspot_run_compute_task,
            run.pk,
            what=f"hotspot run {run.pk}",
            on_failure=lambda reason, pk=run.pk: hotspot_run_fail(run_id=pk, reason=reason),
        )
    return run, True


def hotspot_run_fail(*, run_id: int, reason: str) -> None:
    """Mark a run that will never be computed as failed (if nothing took it meanwhile)."""
    HotspotRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.FAILED, error=reason, finished_at=timezone.now()
    )


def hotspot_runs_fail_stale() -> int:
    """Runs pending or running past the compute task's time limit will never finish (task lost with
    the broker, worker killed): mark them failed, with the reason. Run periodically by Celery beat;
    reads show such a run as failed already (HotspotRun.is_stale). Returns how many."""
    return HotspotRun.objects.filter(stale_runs_q()).update(
        status=RunStatus.FAILED, error=STALE_ERROR, finished_at=timezone.now()
    )


def hotspot_run_compute(*, run_id: int) -> HotspotRun | None:
    """Compute a pending run and store its GeoJSON; None when it is not pending (already taken)."""
    now = timezone.now()
    taken = HotspotRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=now
    )
    if not taken:
        return None
    run = HotspotRun.objects.select_related("agency").get(pk=run_id)
    timings = Timings()
    try:
        features, summary, count = COMPUTE[RunKind(run.kind)](run.agency, run.params, timings)
    except (ValueError, ValidationError) as exc:
        run.status, run.error = RunStatus.FAILED, str(exc)
    except Exception as exc:  # the run records the failure for the planner; the worker goes on
        logger.exception("hotspot run %s failed", run_id)
        run.status, run.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        run.status = RunStatus.DONE
        run.incident_count = count
        run.result = {"type": "FeatureCollection", "features": features}
        run.summary = {**summary, "features": len(features), "timings_ms": timings.stages}
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "incident_count", "result", "summary", "finished_at"])
    return run


def hotspots_refresh_defaults() -> list[int]:
    """Queue-free refresh for the periodic task: compute each agency's default runs unless a fresh
    identical one exists. Returns the ids computed."""
    computed = []
    for agency in Agency.objects.order_by("pk"):
        for kind, raw in DEFAULT_RUNS:
            run, created = hotspot_run_request(agency=agency, kind=kind, raw_params=raw, dispatch=False)
            if created:
                hotspot_run_compute(run_id=run.pk)
                computed.append(run.pk)
    return computed


def _tz(agency: Agency):
    from zoneinfo import ZoneInfo

    return ZoneInfo(agency.time_zone)


# ---- the computations, one per kind ------------------------------------------------------------


def gistar_for(agency: Agency, params: dict, timings: Timings):
    """Filtered counts per H3 cell and Gi* over the study area. Returns (GiStar, incident count)."""
    with timings.measure("db"):
        points = selectors.incident_points(agency=agency, params=params)
        area = selectors.study_area(agency_id=agency.pk)
    with timings.measure("h3"):
        counts = analysis.cell_counts(points, params["resolution"])
    with timings.measure("grid"):
        grid = analysis.study_grid(occupied=set(counts), resolution=params["resolution"], area=area, points=points)
    with timings.measure("weights"):
        w = analysis.adjacency_weights(grid.cells)
    with timings.measure("gi_star"):
        gi = analysis.gi_star(
            grid, counts, w, permutations=params["permutations"], seed=SEED, inference=params["inference"]
        )
    return gi, points.total


def compute_gistar(agency: Agency, params: dict, timings: Timings):
    gi, total = gistar_for(agency, params, timings)
    with timings.measure("geojson"):
        features = analysis.gi_features(gi)
    summary = {
        "cells": len(gi.cells),
        "classes": analysis.class_counts(gi.classes),
        "outside_study_area": total - int(gi.counts.sum()),
    }
    return features, summary, total


def compute_kde(agency: Agency, params: dict, timings: Timings):
    with timings.measure("db"):
        points = selectors.incident_points(agency=agency, params=params)
    with timings.measure("kde"):
        features, summary = analysis.kde_surface(points, bandwidth_m=params["bandwidth_m"], cell_m=params["cell_m"])
    return features, summary, points.total


def compute_compare(agency: Agency, params: dict, timings: Timings):
    """Period A (start..end) against period B (compare_start..compare_end) on one grid: the union of
    both periods' study cells, so a cell means the same place in both."""
    with timings.measure("db"):
        points_a = selectors.incident_points(agency=agency, params=params)
        points_b = selectors.incident_points(agency=agency, params=params, period="compare_")
        area = selectors.study_area(agency_id=agency.pk)
    res = params["resolution"]
    with timings.measure("h3"):
        counts_a = analysis.cell_counts(points_a, res)
        counts_b = analysis.cell_counts(points_b, res)
        both = analysis.Points(
            lon=_cat(points_a.lon, points_b.lon), lat=_cat(points_a.lat, points_b.lat), n=_cat(points_a.n, points_b.n)
        )
    with timings.measure("grid"):
        grid = analysis.study_grid(occupied=set(counts_a) | set(counts_b), resolution=res, area=area, points=both)
        cells = grid.cells
    with timings.measure("weights"):
        w = analysis.adjacency_weights(cells)
    with timings.measure("gi_star"):
        opts = {"permutations": params["permutations"], "seed": SEED, "inference": params["inference"]}
        gi_a = analysis.gi_star(grid, counts_a, w, **opts)
        gi_b = analysis.gi_star(grid, counts_b, w, **opts)
    changes = {"new": 0, "persistent": 0, "cooled": 0}
    features = []
    with timings.measure("geojson"):
        for i, cell in enumerate(cells):
            a, b = int(gi_a.counts[i]), int(gi_b.counts[i])
            hot_a = analysis.confidence(gi_a.classes[i]) >= 95
            hot_b = analysis.confidence(gi_b.classes[i]) >= 95
            if not (a or b or hot_a or hot_b):
                continue
            trend = "persistent" if hot_a and hot_b else "new" if hot_a else "cooled" if hot_b else ""
            if trend:
                changes[trend] += 1
            props = {
                "cell": analysis.cell_id(cell),
                "count_a": a,
                "count_b": b,
                "change": a - b,
                "change_pct": None if b == 0 else round(100 * (a - b) / b, 1),
                "z_a": round(float(gi_a.z[i]), 3),
                "z_b": round(float(gi_b.z[i]), 3),
                "class_a": gi_a.classes[i],
                "class_b": gi_b.classes[i],
                "hot_a": hot_a,
                "hot_b": hot_b,
                "trend": trend,
            }
            features.append(
                {"type": "Feature", "id": props["cell"], "geometry": analysis.cell_polygon(cell), "properties": props}
            )
    summary = {
        "cells": len(cells),
        "count_a": points_a.total,
        "count_b": points_b.total,
        "classes_a": analysis.class_counts(gi_a.classes),
        "classes_b": analysis.class_counts(gi_b.classes),
        "trends": changes,
    }
    return features, summary, points_a.total + points_b.total


def compute_gaps(agency: Agency, params: dict, timings: Timings):
    """Hot cells at min_confidence or above with the share of each the agency's cameras see; a cell
    is a gap when that share is below covered_threshold."""
    gi, total = gistar_for(agency, params, timings)
    hot = {
        analysis.cell_id(cell): i
        for i, cell in enumerate(gi.cells)
        if analysis.confidence(gi.classes[i]) >= params["min_confidence"]
    }
    polygons = {cid: analysis.cell_polygon(gi.cells[i]) for cid, i in hot.items()}
    with timings.measure("coverage"):
        coverage = selectors.cell_camera_coverage(agency_id=agency.pk, cells=polygons)
    features = []
    for cid, i in hot.items():
        cover = coverage[cid]
        props = {
            "cell": cid,
            "count": int(gi.counts[i]),
            "z": round(float(gi.z[i]), 3),
            "class": gi.classes[i],
            **cover,
            "gap": cover["covered"] < params["covered_threshold"],
        }
        features.append({"type": "Feature", "id": cid, "geometry": polygons[cid], "properties": props})
    features.sort(key=lambda f: (not f["properties"]["gap"], -f["properties"]["z"]))
    summary = {
        "cells": len(gi.cells),
        "hot_cells": len(features),
        "gaps": sum(1 for f in features if f["properties"]["gap"]),
        "classes": analysis.class_counts(gi.classes),
    }
    return features, summary, total


def _cat(a, b):
    import numpy as np

    return np.concatenate([a, b])


COMPUTE = {
    RunKind.GISTAR: compute_gistar,
    RunKind.KDE: compute_kde,
    RunKind.COMPARE: compute_compare,
    RunKind.GAPS: compute_gaps,
}
