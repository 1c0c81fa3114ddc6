"""Writes to agencies and users."""
from __future__ import annotations

from .models import Agency


def agency_ensure(*, code: str, name: str, time_zone: str = "America/Los_Angeles") -> tuple[Agency, bool]:
    code = code.strip().upper()
    if not code or len(code) > 16 or not code.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"agency code must be 1..16 letters, digits, - or _, got {code!r}")
    return Agency.objects.get_or_create(code=code, defaults={"name": name or code, "time_zone": time_zone})
