"""Reading which way an ALPR site looks from OSM's `direction` tag, as mappers write it.

Real values (the SF Bay Area list of ~3,700 nodes): degrees `160`, compass points `N`, `NW`,
travel directions `NB`/`SB`/`EB`/`WB` (the camera reads the traffic going that way: it looks that
way), several views `45;225`, sectors `252-297`, a sector across north `304-14`, a mix
`338-23;265-310`, repeats `0;0;0`. Each view is a [from, to] sector clockwise in degrees; a single
heading is [h, h]. No direction (or an empty one) means all round. Anything else (`Flock Raven`,
`370`) is refused with the reason, never guessed.
"""

from __future__ import annotations

import math
import re

COMPASS = {
    name: index * 22.5
    for index, name in enumerate(
        ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
    )
}
WORDS = {"NORTH": "N", "EAST": "E", "SOUTH": "S", "WEST": "W"}
# "NB" (northbound), "SOUTHBOUND": the travel direction the reader watches.
BOUND = re.compile(r"^([A-Z]+?)(?:B|BOUND)$")
NUMBER = re.compile(r"^\d+(?:\.\d+)?$")

Sector = tuple[float, float]


def _degrees(text: str, whole: str) -> float:
    word = text.strip().upper()
    word = WORDS.get(word, word)
    if word in COMPASS:
        return COMPASS[word]
    bound = BOUND.match(word)
    if bound and WORDS.get(bound.group(1), bound.group(1)) in COMPASS:
        return COMPASS[WORDS.get(bound.group(1), bound.group(1))]
    if NUMBER.match(word):
        value = float(word)
        if value > 360:
            raise ValueError(f"direction {whole!r}: {value:g} is more than 360 degrees")
        return value % 360
    raise ValueError(
        f"direction {whole!r}: {text.strip()!r} is not a heading (degrees 0-360, N/NE/..., NB/SB/EB/WB, "
        "or a range like 252-297)"
    )


def parse_direction(text: str | float | int | None) -> list[Sector]:
    """The views of an OSM `direction` value; [] (all round) when there is none."""
    if text is None:
        return []
    if isinstance(text, int | float) and not isinstance(text, bool):
        if not math.isfinite(text) or not 0 <= text <= 360:
            raise ValueError(f"direction {text!r} is not 0-360 degrees")
        return [(float(text) % 360, float(text) % 360)]
    whole = str(text)
    views: list[Sector] = []
    for part in whole.split(";"):
        if not part.strip():
            continue
        ends = part.split("-")
        if len(ends) == 2 and ends[0].strip() and ends[1].strip():
            sector = (_degrees(ends[0], whole), _degrees(ends[1], whole))
        elif len(ends) == 1:
            heading = _degrees(part, whole)
            sector = (heading, heading)
        else:
            raise ValueError(f"direction {whole!r}: {part.strip()!r} is not a heading or a range like 252-297")
        if sector not in views:
            views.append(sector)
    return views


def sector_centre(sector: Sector) -> float:
    """The middle of a clockwise sector: 252-297 -> 274.5, 304-14 -> 339."""
    start, end = sector
    return (start + ((end - start) % 360) / 2) % 360
