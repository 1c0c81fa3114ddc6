"""Health of the parts the product stands on, for the agency's IT staff."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection


def health_check() -> dict:
    result: dict = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT postgis_lib_version()")
            result["database"] = {"ok": True, "postgis": cur.fetchone()[0]}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer we report
        result["database"] = {"ok": False, "error": str(exc)}
    try:
        cache.set("rtcc:health", "ok", 10)
        result["redis"] = {"ok": cache.get("rtcc:health") == "ok"}
    except Exception as exc:  # noqa: BLE001
        result["redis"] = {"ok": False, "error": str(exc)}
    result["ok"] = all(part["ok"] for part in result.values())
    return result
