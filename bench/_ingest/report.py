"""The printed table of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import config


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


CORES = "cores d/b/pg/r/other"


def _cores(cpu: Mapping[str, float]) -> str:
    return "/".join(fmt(cpu.get(k)) for k in ("daphne", "bench_process", "postgres", "redis", "other"))


def print_report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print()
    print(
        f"rtcc-gis ingest benchmark ({result['mode']}): {m['cores']} cores ({m['cpu']}); load average at start "
        f"{m['load_average_at_start']}, at end {result['load_average_at_end']}"
    )
    print(
        f"PostgreSQL {m['postgresql']} / PostGIS {m['postgis']}, Redis {m['redis']}, Python {m['python']}, "
        f"Django {m['django']}, DEBUG={m['django_debug']}; one Daphne process; driver, maps, Daphne, PostgreSQL and\n"
        "Redis all share these cores (the last column shows who used them: a busy machine lowers every figure)"
    )
    print()
    print("1. Position ingest throughput: accepted records per second of wall time, bench units only")
    print(
        f"   {'what':<62}{'clients':>8}{'records':>9}{'seconds':>8}{'rec/s':>8}  {'call ms p50/p95/p99':<22}"
        f"{'conns':>6}  {CORES}"
    )
    for t in result["ingest"]:
        ms = t["call_ms"]
        calls = "/".join(fmt(ms.get(k), 0 if (ms.get(k) or 0) >= 100 else 1) for k in ("p50", "p95", "p99"))
        print(
            f"   {t['what']:<62}{t['clients']:>8}{t['records']:>9,}{t['seconds']:>8.2f}{t['records_per_s']:>8,.0f}"
            f"  {calls:<22}{t['db_sessions']:>6,}  {_cores(t['cpu'])}"
            + (f"   ERRORS {t['errors']}" if t["errors"] else "")
        )
    print(
        "   call ms: one feed_ingest() call, one 1000-row transaction, or one HTTP request (answer included).\n"
        "   conns: PostgreSQL sessions opened to the bench database meanwhile. Daphne runs each request's sync\n"
        "   code in a fresh thread and Django's connections are per thread: a new connection per request.\n"
        "   cores: CPU seconds per wall second of Daphne / this process (driver and maps) / PostgreSQL (the bench\n"
        "   database's backends and any that exited) / Redis / everything else (other people's work: it slows\n"
        "   the rest).\n"
        "   In this process publish() has no event loop to hop onto, so every transaction (all the events of one\n"
        "   payload) pays for a fresh one (as in a Celery worker); in Daphne it runs on the server's loop."
    )
    for name, ratio in result["ratios"].items():
        print(f"   {name}: {ratio:.1f}x")
    print()
    print(
        f"2. Ingest-to-map latency, {config.ARGS.maps} maps subscribed to units: receipt time minus the time the fix's "
        "request was written, over every (map, message)"
    )
    print(
        f"   {'scenario':<50}{'rate':>5}{'p50':>7}{'p95':>7}{'p99':>7}{'max':>7}{'published':>10}{'recv/map':>9}"
        f"{'share':>6}{'req p95':>8}{'last':>6}{'conns':>7}  {CORES}"
    )
    for row in result["latency"]:
        lat, rec, share = row["latency_ms"], row["received_per_map"], row["received_share"]
        print(
            f"   {row['scenario']['name']:<50}{fmt(row['achieved_rate'], 0):>5}{fmt(lat['p50'], 0):>7}"
            f"{fmt(lat['p95'], 0):>7}{fmt(lat['p99'], 0):>7}{fmt(lat['max'], 0):>7}{row['published']:>10,}"
            f"{rec['mean']:>9,.0f}{'-' if share is None else f'{share:.0%}':>6}{fmt(row['request_ms']['p95'], 0):>8}"
            f"{row['maps_with_every_units_last_position']:>3}/{row['maps']:<2}{row['db_sessions_opened']:>7,}"
            f"  {_cores(row['cpu_cores_used'])}"
            + ("" if row["drained"] else "  NOT DRAINED")
            + (
                f"  SATURATED: caught up {row['caught_up_after_last_send_s']} s after the last send; "
                f"delivered {row['delivered_per_s']:,.0f} messages/s"
                if row["saturated"]
                else ""
            )
            + (f"  HTTP ERRORS {row['http_errors']}" if row["http_errors"] else "")
        )
    print(
        "   rate: fixes/s the driver achieved (open loop); p50..max: latency in ms; published: unit upserts on the\n"
        "   Redis stream; recv/map: unit messages per map (mean); share: recv/map / published; req p95: HTTP\n"
        "   request time in ms; last: maps that ended with every unit's last fix; conns: PostgreSQL sessions.\n"
        "   Coalescing (on unless the scenario says off): a map gets unit upserts at most once per 200 ms window,\n"
        "   only each unit's latest. So an upsert may wait up to one window (latency), and a unit reporting more\n"
        "   often than once per window has its intermediate positions skipped (share < 100%), never its last one.\n"
        "   SATURATED: this box did not keep up (maps x rate messages/s from one Daphne process); the latency\n"
        "   then grows with the length of the run and is not a steady-state figure; 'delivered' (messages to all\n"
        "   maps per second, first send to caught up) is then what one Daphne process delivers here."
    )
    for line in result["checks"]:
        print(f"   check: {line}")
    if result["other_cores_max"] > 0.3:
        print(
            f"\nWARNING: other processes on this machine used up to {result['other_cores_max']} of its "
            f"{m['cores']} cores during the run (column 'other'): the figures above are lower than this code\n"
            "achieves on a quiet machine. Run again when nothing else is running for representative figures."
        )
    print(f"\nwritten: {result['out']}")
