"""XML files and payloads as records: repeated elements become rows, KML placemarks keep their geometry.

Generic XML: the record element is named in the mapping (`record_element`), else it is the element name
that repeats most under one parent (S3 `Contents`, `camera`, `item`). A record's values are its leaf
elements by path relative to the record (`Key`, `Owner/ID`) and attributes as `@name` (`Owner/@id`);
namespaces are dropped. KML (root `kml`): every `Placemark` is a record with `name`, `description`, its `ExtendedData`
(`Data`/`value` and `SchemaData`/`SimpleData` by name), `_coordinates` (the coordinates text, for a
derived key) and its Point or Polygon as the record's geometry. Parsing goes through defusedxml with DTDs
and entities refused.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from apps.intake.errors import ImportFileError

# Past this many values a "record" is a whole document, not a row.
MAX_VALUES = 500


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_xml_document(data: bytes, name: str) -> Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ImportFileError(f"{name}: refused: {type(exc).__name__} (DTDs and entities are not allowed)") from None
    except ParseError as exc:
        raise ImportFileError(f"{name} is not well-formed XML: {exc}") from None


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _leaf_values(element: Element, prefix: str, values: dict[str, Any]) -> None:
    for attr, value in element.attrib.items():
        values.setdefault(f"{prefix}@{_local(attr) or attr}", value)
    children = list(element)
    if not children:
        if prefix:
            values.setdefault(prefix.rstrip("/"), (element.text or "").strip())
        return
    for child in children:
        if len(values) >= MAX_VALUES:
            return
        _leaf_values(child, f"{prefix}{_local(child.tag)}/", values)


def _coordinates(text: str) -> list[list[float]]:
    """KML "lon,lat[,alt] lon,lat[,alt] ..." as numbers; ValueError names what is wrong."""
    points = []
    for tuple_text in text.split():
        parts = tuple_text.split(",")
        if len(parts) < 2:
            raise ValueError(f"KML coordinates {tuple_text!r} are not lon,lat")
        points.append([float(parts[0]), float(parts[1])])
    if not points:
        raise ValueError("KML coordinates are empty")
    return points


def _kml_polygon(element: Element) -> list[list[list[float]]]:
    rings = []
    for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
        for part in element:
            if _local(part.tag) == boundary:
                ring = _child(part, "LinearRing")
                rings.append(_coordinates(_text(_child(ring, "coordinates") if ring is not None else None)))
    return rings


def _kml_geometry(placemark: Element) -> dict[str, Any] | None:
    """The placemark's area (every Polygon of a MultiGeometry, not only the first), else its first Point
    (a MultiGeometry often pairs an area with a label point: the area is the place)."""
    polygons = [_kml_polygon(element) for element in placemark.iter() if _local(element.tag) == "Polygon"]
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    if polygons:
        return {"type": "MultiPolygon", "coordinates": polygons}
    for element in placemark.iter():
        if _local(element.tag) == "Point":
            point = _coordinates(_text(_child(element, "coordinates")))
            return {"type": "Point", "coordinates": point[0]}
    return None


def _kml_values(placemark: Element) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "id" in placemark.attrib:
        values["_id"] = placemark.attrib["id"]
    for key in ("name", "description"):
        child = _child(placemark, key)
        if child is not None:
            values[key] = _text(child)
    for element in placemark.iter():
        kind = _local(element.tag)
        if kind == "coordinates" and "_coordinates" not in values:
            # Offered as a column so a mapping can build a stable key from the position (derived_keys).
            values["_coordinates"] = _text(element)
        elif kind == "Data" and element.get("name"):
            values.setdefault(element.get("name", ""), _text(_child(element, "value")))
        elif kind == "SimpleData" and element.get("name"):
            values.setdefault(element.get("name", ""), _text(element))
    return values


def _raw(element: Element) -> str:
    return tostring(element, encoding="unicode")


def _record_tag(root: Element) -> str:
    counts: Counter[str] = Counter()
    for parent in root.iter():
        tags = Counter(_local(child.tag) for child in parent)
        for tag, count in tags.items():
            if count > 1:
                counts[tag] += count
    if not counts:
        # One record only: the root's children are its fields.
        return _local(root.tag)
    return counts.most_common(1)[0][0]


def xml_source(data: bytes, *, name: str, record_element: str | None = None):  # -> readers.Source
    from apps.intake.readers import Record, Source

    root = parse_xml_document(data, name)
    is_kml = _local(root.tag) == "kml"
    tag = record_element or ("Placemark" if is_kml else _record_tag(root))
    elements = [element for element in root.iter() if _local(element.tag) == tag]
    if not elements:
        raise ImportFileError(f"{name}: no <{tag}> elements to read as records")
    rows: list[Any] = []
    for index, element in enumerate(elements, start=1):
        geometry = None
        problem = ""
        if is_kml and tag == "Placemark":
            values = _kml_values(element)
            try:
                geometry = _kml_geometry(element)
            except ValueError as exc:
                problem = str(exc)
        else:
            values = {}
            _leaf_values(element, "", values)
        rows.append(
            Record(index=index, line=None, values=values, geometry=geometry, raw=_raw(element), problem=problem)
        )
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.values))
    return Source(format="xml", columns=tuple(columns), records=iter(rows), has_geometry=is_kml)
