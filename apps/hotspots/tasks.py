"""Hotspot computations in the worker: one run on demand, the default runs on a schedule."""

from celery import shared_task

from .models import RUN_TIME_LIMIT_SECONDS


@shared_task(time_limit=RUN_TIME_LIMIT_SECONDS, soft_time_limit=RUN_TIME_LIMIT_SECONDS - 30)
def hotspot_run_compute_task(run_id: int) -> str:
    """Compute run `run_id` if it is still pending (a duplicate delivery finds it taken and stops)."""
    from .services import hotspot_run_compute

    run = hotspot_run_compute(run_id=run_id)
    return "skipped" if run is None else run.status


@shared_task(time_limit=120, soft_time_limit=90)
def hotspot_runs_fail_stale_task() -> int:
    """Persist what reads already show: runs past the compute time limit are failed (every agency's)."""
    from .services import hotspot_runs_fail_stale

    return hotspot_runs_fail_stale()


@shared_task(time_limit=1800, soft_time_limit=1740)
def hotspots_refresh_defaults_task() -> list[int]:
    """Every agency's default runs (Gi* and KDE, last 28 days), unless fresh identical ones exist."""
    from .services import hotspots_refresh_defaults

    return hotspots_refresh_defaults()
