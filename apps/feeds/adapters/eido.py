"""NENA Emergency Incident Data Object, NENA-STA-021 JSON (kind ``eido``).

Format
------
One EIDO (an ``EmergencyIncidentDataObjectType`` object) or a JSON list of them; each EIDO gives at
most one incident. Components refer to each other by ``{"$ref": <the other component's "$id">}``.
What we read:

* ``cad_number``: ``incidentComponent.internalIncidentId`` (the agency's own CAD number) when given,
  else the incident tracking identifier (``incidentComponent.$id``, else the EIDO's ``$id``) without
  its constant ``urn:emergency:uid:incidentid:`` prefix. ``params={"cad_number": "tracking"}`` always
  uses the tracking identifier (for an IDX that merges several agencies' CADs).
* ``type_code`` / ``type_description``: ``incidentTypeInternalCode`` / ``incidentTypeInternalText``,
  each falling back to ``incidentTypeCommonRegistryText``.
* ``priority``: ``incidentCommonPriorityNumber`` (1..9), else a 1..9 in ``incidentPriorityInternalText``
  (``"2"``, ``"P2"``), else 3.
* ``status``: the furthest along of the ``incidentStatusCommonRegistryText`` and
  ``incidentStatusInternalText`` words (dotted registry values are read from the most specific part,
  ``Active.OnScene`` -> on_scene; ``Active`` alone -> pending), raised by what the EIDO shows: a
  ``dispatchComponent`` means dispatched, a resource whose ``primaryUnitStatusRegistryText`` says on
  scene means on_scene. Words we do not know are ignored here (registry values are NENA's to extend),
  not rejected; ``params={"statuses": {...}}`` adds words as for ``cad_json``.
* position and ``address``: the ``locationComponent`` entries the incident references, then those of
  type ``Incident``, then the others (not unit positions or destinations). ``locationByValue`` is a
  PIDF-LO document: the first geodetic shape gives the point (``gml:Point``; the centre of
  ``gs:Circle``, ``gs:Ellipse``, ``gs:ArcBand``, ``gs:Sphere``, ``gs:Ellipsoid``; the centroid of
  ``gml:Polygon`` or ``gs:Prism``; EPSG 4326/4979, latitude first) and ``civicAddress`` the address. A
  GeoJSON Point in ``locationByValue`` is accepted too. ``locationByReferenceUrl`` is never fetched (an
  adapter makes no requests): an EIDO whose locations have no coordinates by value is rejected.
* times: ``received_at`` is the earliest ``callComponent.callStartTimestamp``, else the incident's
  ``lastUpdateTimeStamp``; ``dispatched_at`` the earliest ``dispatchComponent`` update; ``on_scene_at``
  the earliest update of an on-scene resource; ``closed_at`` the incident's last update when closed.
  EIDO 1.0 carries no dedicated times for these, so they are the best the object states.
* ``narrative``: every ``notesComponent`` (``notesActionComments`` is HTML: reduced to text),
  entered at its ``lastUpdateTimeStamp``, author its ``agentReference``.
* ``unit_refs``: ``emergencyResourceComponent`` names (``emergencyResourceName``, else ``$id``), except
  resources active on another incident or whose status says they are cleared / available.

Person, vehicle, callback and additional-data components are not read: their personal data has no
place on the map.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import Element

from apps.incidents.choices import IncidentStatus

from .base import IncidentRecord, NarrativeLine, ParseResult, PayloadError, register
from .common import (
    STATUS_ORDER,
    RecordError,
    centroid,
    collect,
    coords,
    integer,
    load_json,
    lon_lat,
    obj,
    parse_xml,
    status_key,
    status_words,
    text,
    timestamp,
    xml_text,
)

TRACKING_PREFIX = "urn:emergency:uid:incidentid:"
MAX_NOTES = 2000
MAX_NOTE_TEXT = 4000

GML = "{http://www.opengis.net/gml}"
GS = "{http://www.opengis.net/pidflo/1.0}"
CIVIC = "{urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr}"
POINT_SHAPES = {GML + "Point", GS + "Circle", GS + "Ellipse", GS + "ArcBand", GS + "Sphere", GS + "Ellipsoid"}
AREA_SHAPES = {GML + "Polygon", GS + "Prism"}
# RFC 5491: PIDF-LO geodetic shapes use only these two; both put latitude first.
SRS_NAMES = {"urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG::4979"}

# A unit in one of these states is no longer working the incident, whatever the EIDO still lists.
UNIT_FREE_WORDS = {"available", "inservice", "cleared", "clear", "returning", "inquarters", "outofservice"}


@dataclass(frozen=True)
class PidfLocation:
    """What a PIDF-LO document says about a place: a point if it has a geodetic shape, an address."""

    lon: float | None = None
    lat: float | None = None
    address: str = ""


@register
class EidoAdapter:
    """NENA EIDO (NENA-STA-021 JSON) incidents (see the module docstring)."""

    kind = "eido"
    label = "NENA EIDO (JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        params = params or {}
        words = status_words(params)
        # A bare "Active" is the registry's word for an incident not yet closed: at least pending;
        # the dispatch and unit evidence below moves it on.
        words.setdefault("active", IncidentStatus.PENDING.value)
        id_choice = params.get("cad_number", "internal")
        if id_choice not in ("internal", "tracking"):
            raise PayloadError(f"params 'cad_number' must be 'internal' or 'tracking', got {id_choice!r}")
        data = load_json(payload)
        if isinstance(data, dict):
            if "eidoVersion" not in data and not any(key.endswith("Component") for key in data):
                raise PayloadError("the JSON object is not an EIDO (no eidoVersion and no components)")
            items: list = [data]
        elif isinstance(data, list):
            items = data
        else:
            raise PayloadError(f"expected an EIDO object or a list of them, got {type(data).__name__}")
        return collect(items, lambda item: incident_from_eido(item, words=words, tracking_id=id_choice == "tracking"))


def incident_from_eido(eido: Any, *, words: Mapping[str, str], tracking_id: bool = False) -> IncidentRecord:
    eido = obj(eido, "EIDO")
    incident = _incident_component(eido)
    cad_number = _cad_number(eido, incident, tracking_id)
    registry_type = text(
        incident.get("incidentTypeCommonRegistryText"), "incidentTypeCommonRegistryText", optional=True
    )
    type_code = text(incident.get("incidentTypeInternalCode"), "incidentTypeInternalCode", max_len=32, optional=True)
    if not type_code:
        if not registry_type:
            raise RecordError("incident type is missing (incidentTypeCommonRegistryText)")
        type_code = text(registry_type, "incidentTypeCommonRegistryText", max_len=32)
    type_description = text(incident.get("incidentTypeInternalText"), "incidentTypeInternalText", optional=True)

    lon, lat, address = _position(eido, incident)

    incident_updated = _optional_time(incident.get("lastUpdateTimeStamp"), "incidentComponent.lastUpdateTimeStamp")
    call_starts = [
        timestamp(call.get("callStartTimestamp"), f"callComponent[{i}].callStartTimestamp")
        for i, call in enumerate(_components(eido, "callComponent"))
        if call.get("callStartTimestamp") not in (None, "")
    ]
    eido_updated = _optional_time(eido.get("lastUpdateTimeStamp"), "lastUpdateTimeStamp")
    received_at = min(call_starts) if call_starts else incident_updated or eido_updated
    if received_at is None:
        raise RecordError("no time: neither a callStartTimestamp nor a lastUpdateTimeStamp")

    dispatches = [_updated(d, f"dispatchComponent[{i}]") for i, d in enumerate(_components(eido, "dispatchComponent"))]
    resources = list(_components(eido, "emergencyResourceComponent"))
    unit_states = [_unit_status(r, words) for r in resources]
    on_scene_times = [
        _updated(r, f"emergencyResourceComponent[{i}]")
        for i, (r, state) in enumerate(zip(resources, unit_states, strict=True))
        if state == IncidentStatus.ON_SCENE
    ]

    status = _declared_status(incident, words)
    if dispatches or any(state is not None for state in unit_states):
        status = _further(status, IncidentStatus.DISPATCHED.value)
    if on_scene_times:
        status = _further(status, IncidentStatus.ON_SCENE.value)

    return IncidentRecord(
        cad_number=cad_number,
        type_code=type_code,
        type_description=type_description or registry_type,
        priority=_priority(incident),
        status=status,
        address=address,
        lon=lon,
        lat=lat,
        received_at=received_at,
        dispatched_at=min(dispatches) if dispatches else None,
        on_scene_at=min(on_scene_times) if on_scene_times else None,
        closed_at=(incident_updated or eido_updated) if status == IncidentStatus.CLOSED else None,
        narrative=_notes(eido),
        unit_refs=_units(resources, unit_states, incident.get("$id") or eido.get("$id")),
    )


# --- structure -----------------------------------------------------------------------------------


def _incident_component(eido: dict) -> dict:
    incident = eido.get("incidentComponent")
    if incident is None:
        raise RecordError("the EIDO has no incidentComponent (a call-transfer EIDO has no incident type or status yet)")
    # The schema makes it one object; some senders wrap it in a list of one.
    if isinstance(incident, list):
        if len(incident) != 1:
            raise RecordError(f"incidentComponent must be one object, got a list of {len(incident)}")
        incident = incident[0]
    return obj(incident, "incidentComponent")


def _components(eido: dict, name: str) -> Iterable[dict]:
    value = eido.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{name} must be a list, got {type(value).__name__}")
    return [obj(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _ref(value: Any, name: str) -> str | None:
    """The `$id` a `{"$ref": ...}` points at."""
    if value is None:
        return None
    target = obj(value, name).get("$ref")
    if not isinstance(target, str) or not target:
        raise RecordError(f'{name} must be {{"$ref": <id>}}, got {value!r}')
    return target


def _refs(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{name} must be a list of references, got {type(value).__name__}")
    return [ref for i, item in enumerate(value) if (ref := _ref(item, f"{name}[{i}]"))]


def _cad_number(eido: dict, incident: dict, tracking_id: bool) -> str:
    internal = text(incident.get("internalIncidentId"), "internalIncidentId", max_len=64, optional=True)
    if internal and not tracking_id:
        return internal
    tracking = incident.get("$id") or eido.get("$id")
    tracking = text(tracking, "incident tracking identifier ($id)", max_len=500)
    if tracking.lower().startswith(TRACKING_PREFIX):
        tracking = tracking[len(TRACKING_PREFIX) :]
    if len(tracking) > 64:
        raise RecordError(f"incident tracking identifier {tracking!r} is longer than 64 characters")
    return tracking


def _optional_time(value: Any, name: str) -> datetime | None:
    return None if value in (None, "") else timestamp(value, name)


def _updated(component: dict, name: str) -> datetime:
    return timestamp(component.get("lastUpdateTimeStamp"), f"{name}.lastUpdateTimeStamp")


# --- status and priority -------------------------------------------------------------------------


def _word_status(value: str, words: Mapping[str, str]) -> str | None:
    """Status of a (possibly dotted) registry word, the most specific part first."""
    for part in reversed(value.split(".")):
        status = words.get(status_key(part))
        if status is not None:
            return status
    return None


def _string_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # the schema says array; a lone string means the same thing
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{name} must be a list of text, got {value!r}")
    return value


def _declared_status(incident: dict, words: Mapping[str, str]) -> str:
    status = IncidentStatus.PENDING.value
    for name in ("incidentStatusCommonRegistryText", "incidentStatusInternalText"):
        for word in _string_list(incident.get(name), name):
            found = _word_status(word, words)
            if found is not None:
                status = _further(status, found)
    return status


def _further(a: str, b: str) -> str:
    return max(a, b, key=STATUS_ORDER.index)


def _priority(incident: dict) -> int:
    common = integer(
        incident.get("incidentCommonPriorityNumber"), "incidentCommonPriorityNumber", low=1, high=9, optional=True
    )
    if common is not None:
        return common
    internal = incident.get("incidentPriorityInternalText")
    if isinstance(internal, str | int) and not isinstance(internal, bool):
        match = re.fullmatch(r"\s*(?:p|priority)?\s*([1-9])\s*", str(internal), re.IGNORECASE)
        if match:
            return int(match.group(1))
    return 3


# --- units and notes -----------------------------------------------------------------------------


def _unit_status(resource: dict, words: Mapping[str, str]) -> str | None:
    """What a resource's status says about the incident: None when it states nothing we know."""
    values = [("primaryUnitStatusRegistryText", resource.get("primaryUnitStatusRegistryText"))]
    internal = _string_list(resource.get("unitStatusInternal"), "unitStatusInternal")
    values += [("unitStatusInternal", v) for v in internal]
    for name, value in values:
        if value in (None, ""):
            continue
        word = text(value, name, max_len=64)
        if any(status_key(part) in UNIT_FREE_WORDS for part in word.split(".")):
            return IncidentStatus.CLOSED.value
        found = _word_status(word, words)
        if found is not None:
            return found
    return None


def _units(resources: list[dict], states: list[str | None], incident_id: Any) -> tuple[str, ...]:
    refs: list[str] = []
    for i, (resource, state) in enumerate(zip(resources, states, strict=True)):
        active_on = resource.get("activeOnIncidentId")
        if active_on and active_on != incident_id:
            continue  # stacked here but working another call
        if state == IncidentStatus.CLOSED:
            continue
        name = resource.get("emergencyResourceName") or resource.get("$id")
        refs.append(text(name, f"emergencyResourceComponent[{i}].emergencyResourceName", max_len=32))
    return tuple(dict.fromkeys(refs))


class _HtmlText(HTMLParser):
    """Text of an HTML5 fragment, block elements as line breaks; scripts and styles dropped."""

    BLOCKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def html_text(value: str) -> str:
    parser = _HtmlText()
    parser.feed(value)
    parser.close()
    return parser.text()


def _notes(eido: dict) -> tuple[NarrativeLine, ...]:
    notes = list(_components(eido, "notesComponent"))
    if len(notes) > MAX_NOTES:
        raise RecordError(f"notesComponent has {len(notes)} notes, more than {MAX_NOTES}")
    lines = []
    for i, note in enumerate(notes):
        name = f"notesComponent[{i}]"
        comment = note.get("notesActionComments")
        if not isinstance(comment, str):
            raise RecordError(f"{name}.notesActionComments must be text, got {type(comment).__name__}")
        body = html_text(comment)
        if not body:
            continue  # markup only, nothing to read
        lines.append(
            NarrativeLine(
                entered_at=_updated(note, name),
                text=text(body, f"{name}.notesActionComments", max_len=MAX_NOTE_TEXT),
                author=text(
                    _ref(note.get("agentReference"), f"{name}.agentReference"),
                    f"{name}.agentReference",
                    max_len=100,
                    optional=True,
                ),
            )
        )
    return tuple(sorted(lines, key=lambda line: line.entered_at))


# --- location ------------------------------------------------------------------------------------


def _position(eido: dict, incident: dict) -> tuple[float, float, str]:
    """Point and address of the incident from its location components (see the module docstring)."""
    components = list(_components(eido, "locationComponent"))
    by_id = {c["$id"]: c for c in components if isinstance(c.get("$id"), str)}
    elsewhere: set[str] = set()  # where units are or are going, and staging points: not the incident
    for i, resource in enumerate(_components(eido, "emergencyResourceComponent")):
        for key in ("unitLocationReference", "unitDestinationReference"):
            if ref := _ref(resource.get(key), f"emergencyResourceComponent[{i}].{key}"):
                elsewhere.add(ref)
    referenced = [by_id[ref] for ref in _refs(incident.get("locationReference"), "locationReference") if ref in by_id]
    typed = [c for c in components if status_key(str(c.get("locationTypeDescriptionRegistryText", ""))) == "incident"]
    rest = [c for c in components if c.get("$id") not in elsewhere]
    ordered = list({id(c): c for c in referenced + typed + rest}.values())

    problems: list[str] = []
    found: list[PidfLocation] = []
    for component in ordered:
        try:
            found.append(_component_location(component))
        except RecordError as exc:
            problems.append(f"location {component.get('$id', '?')}: {exc}")
    point = next((loc for loc in found if loc.lon is not None), None)
    address = next((loc.address for loc in ([point] if point else []) + found if loc.address), "")
    if point is None or point.lon is None or point.lat is None:
        reason = "no location with coordinates"
        if address:
            reason += f" (only the civic address {address!r}, which would need geocoding)"
        if problems:
            reason += "; " + "; ".join(problems[:3])
        raise RecordError(reason)
    return point.lon, point.lat, address[:300]


def _component_location(component: dict) -> PidfLocation:
    value = component.get("locationByValue")
    if value in (None, ""):
        return PidfLocation()  # by reference only: never fetched here
    if isinstance(value, dict):
        return PidfLocation(*lon_lat({"location": value}))
    if not isinstance(value, str):
        raise RecordError(f"locationByValue must be text, got {type(value).__name__}")
    if value.lstrip().startswith("{"):
        try:
            geojson = json.loads(value)
        except (ValueError, RecursionError):
            raise RecordError("locationByValue is neither PIDF-LO XML nor JSON") from None
        return PidfLocation(*lon_lat({"location": geojson}))
    return pidf_location(value)


def pidf_location(document: str | bytes) -> PidfLocation:
    """The first geodetic shape's point and the first civic address in a PIDF-LO document."""
    root = parse_xml(document.encode() if isinstance(document, str) else document, "PIDF-LO")
    lon = lat = None
    shape = next((el for el in root.iter() if el.tag in POINT_SHAPES or el.tag in AREA_SHAPES), None)
    if shape is not None:
        srs = shape.get("srsName")
        if srs is not None and srs not in SRS_NAMES:
            raise RecordError(f"PIDF-LO shape uses {srs!r}; only EPSG 4326/4979 is accepted")
        if shape.tag in POINT_SHAPES:
            lat_lons = _positions(shape.find(f".//{GML}pos"))[:1]
        else:
            lat_lons = _ring(shape)
        if not lat_lons:
            raise RecordError(f"PIDF-LO {shape.tag.rsplit('}', 1)[-1]} has no position")
        lon, lat = coords(*(lat_lons[0][::-1] if len(lat_lons) == 1 else centroid([p[::-1] for p in lat_lons])))
    civic = next(root.iter(CIVIC + "civicAddress"), None)
    return PidfLocation(lon, lat, civic_address(civic) if civic is not None else "")


def _positions(element: Element | None, dims: int = 0) -> list[tuple[float, float]]:
    """(lat, lon) pairs of a gml:pos or gml:posList (2 or 3 numbers each; the height is dropped)."""
    raw = (element.text or "").strip() if element is not None else ""
    if element is None or not raw:
        return []
    try:
        numbers = [float(n) for n in raw.split()]
    except ValueError:
        raise RecordError(f"PIDF-LO position {raw!r} is not numbers") from None
    if element.tag == GML + "pos":
        if len(numbers) not in (2, 3):
            raise RecordError(f"PIDF-LO position {raw!r} must be latitude longitude [height]")
        return [(numbers[0], numbers[1])]
    step = dims or int(element.get("srsDimension") or 2)
    if step not in (2, 3) or len(numbers) % step:
        raise RecordError("PIDF-LO posList does not divide into positions")
    return [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), step)]


def _ring(shape: Element) -> list[tuple[float, float]]:
    ring = shape.find(f".//{GML}exterior//{GML}LinearRing")
    if ring is None:
        return []
    pos_list = ring.find(GML + "posList")
    if pos_list is not None:
        # gs:Prism polygons are 3-D (EPSG 4979): latitude, longitude, height.
        return _positions(pos_list, 3 if shape.tag == GS + "Prism" and not pos_list.get("srsDimension") else 0)
    return [p for pos in ring.findall(GML + "pos") for p in _positions(pos)]


def civic_address(element: Element) -> str:
    """One-line address from a PIDF-LO civicAddress (RFC 4776 / RFC 5139 element names)."""
    parts = {child.tag.replace(CIVIC, ""): xml_text(child) for child in element}
    street = " ".join(
        p for p in (parts.get(k, "") for k in ("HNO", "HNS", "PRM", "PRD", "RD", "STS", "POD", "POM")) if p
    )
    if not parts.get("RD") and parts.get("A6"):
        street = " ".join(p for p in (parts.get("HNO", ""), parts.get("HNS", ""), parts["A6"]) if p)
    unit = ", ".join(
        f"{label} {parts[k]}"
        for k, label in (("BLD", "Bldg"), ("FLR", "Floor"), ("UNIT", "Unit"), ("ROOM", "Room"))
        if parts.get(k)
    )
    region = " ".join(p for p in (parts.get("A1", ""), parts.get("PC", "")) if p)
    fields = (parts.get("NAM", ""), street, unit, parts.get("LOC", ""), parts.get("A3", ""), region)
    address = ", ".join(f for f in fields if f)
    return address or parts.get("LMK", "")
