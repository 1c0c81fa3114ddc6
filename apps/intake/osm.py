"""OpenStreetMap JSON: an Overpass API answer (`{"elements": [...]}`) or a list of tagged nodes such as
deflockmaps' `cameras.json` (`{"cameras": [{"id", "lat", "lon", "tags"}]}`), turned into records.

Each element's tags become the record's columns, its position a GeoJSON Point, and `_id` is
`node/123` (OSM ids are only unique per element type). OSM writes a camera's facing as `direction`
or `camera:direction`; the record always has a `direction` column holding whichever is set. A way or
relation has a position only if Overpass was asked for `out center`; without one the record says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Lists of elements under these keys, with the shape that tells OSM JSON from other JSON.
LIST_KEYS = ("elements", "cameras")
ALWAYS_COLUMNS = ("_id", "direction")


def _is_element(item: Any) -> bool:
    return isinstance(item, dict) and "id" in item and isinstance(item.get("tags"), dict)


def _element_list(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    for key in LIST_KEYS:
        items = data.get(key)
        if isinstance(items, list) and items and _is_element(items[0]):
            return items
    if isinstance(data.get("elements"), list) and "osm3s" in data:
        return data["elements"]  # an Overpass answer that found nothing
    return None


def _position(element: dict[str, Any]) -> tuple[Any, Any]:
    centre = element.get("center")
    if isinstance(centre, dict):
        return centre.get("lon"), centre.get("lat")
    return element.get("lon"), element.get("lat")


def _records(elements: list[Any]) -> Iterator[Any]:
    from apps.intake.readers import Record

    for index, element in enumerate(elements, start=1):
        if not _is_element(element):
            yield Record(index=index, line=None, values={}, raw=element, problem="not an OSM element with tags")
            continue
        kind = element.get("type", "node")
        values: dict[str, Any] = {str(key): value for key, value in element["tags"].items()}
        values["_id"] = f"{kind}/{element['id']}"
        values["direction"] = values.get("direction") or values.get("camera:direction")
        lon, lat = _position(element)
        geometry = None
        problem = ""
        if lon is None or lat is None:
            problem = f"OSM {kind} {element['id']} has no position (for ways, ask Overpass for `out center`)"
        else:
            geometry = {"type": "Point", "coordinates": [lon, lat]}
        yield Record(index=index, line=None, values=values, geometry=geometry, raw=element, problem=problem)


def osm_source(data: Any, name: str) -> Any | None:
    """A Source over the OSM elements in `data`, or None when `data` is not OSM JSON."""
    from apps.intake.readers import Source

    elements = _element_list(data)
    if elements is None:
        return None
    seen: dict[str, None] = dict.fromkeys(ALWAYS_COLUMNS)
    for element in elements:
        if _is_element(element):
            seen.update(dict.fromkeys(str(key) for key in element["tags"]))
    return Source(format="osm", columns=tuple(seen), records=_records(elements), has_geometry=True)
