"""The words every intake path reads the same way, defined once: files (import_layer) and every feed.

- `LON_ALIASES` / `LAT_ALIASES`: column or key names taken as longitude / latitude when a mapping does
  not name them (case-insensitive);
- `STATUS_WORDS`: how CAD products and EIDO registries spell the four incident states. Keys are lower-case
  letters only (`status_key`), so "On Scene", "on_scene", "ON-SCENE" and "OnScene" all match; a mapping's
  `values.status` adds a source's own words on top.
"""

from __future__ import annotations

import re

from apps.incidents.choices import IncidentStatus

LON_ALIASES: tuple[str, ...] = ("lon", "longitude", "lng", "long", "x")
LAT_ALIASES: tuple[str, ...] = ("lat", "latitude", "y")

STATUS_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("pending", "new", "received", "queued", "waiting", "hold", "held", "holding", "open", "unassigned"),
        IncidentStatus.PENDING.value,
    ),
    **dict.fromkeys(
        ("dispatched", "assigned", "enroute", "responding", "dispatch", "notified"), IncidentStatus.DISPATCHED.value
    ),
    **dict.fromkeys(("onscene", "arrived", "atscene", "onlocation", "working"), IncidentStatus.ON_SCENE.value),
    **dict.fromkeys(
        ("closed", "cleared", "clear", "complete", "completed", "resolved", "cancelled", "canceled", "disposed"),
        IncidentStatus.CLOSED.value,
    ),
}


def status_key(value: str) -> str:
    return re.sub(r"[^a-z]", "", value.lower())
