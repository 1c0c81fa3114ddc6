"""OASIS Common Alerting Protocol 1.2 alerts (kind ``cap``).

Format
------
An XML document whose root is a CAP 1.2 ``<alert>`` (namespace
``urn:oasis:names:tc:emergency:cap:1.2``), or any XML document holding such ``<alert>`` elements
(an Atom or RSS feed with the alerts inline, a batch wrapper): one record per alert, and
``Rejected.index`` is the alert's position in the document.

* ``source_id``: ``sender,identifier`` (CAP forbids commas in both, so the pair is unambiguous);
  when that is longer than 64 characters, ``cap:`` and a SHA-256 of it, stable across repeats.
* ``raised_at``: ``sent``.
* the ``<info>`` block used is the first in English (a missing ``language`` means ``en-US``), else
  the first. ``title``: its ``event``; ``detail``: ``headline``, ``description``, ``instruction`` and the
  area descriptions, in that order, cut at 4000 characters.
* position: the first ``<area>`` with a ``<circle>`` (``"lat,lon radius"``: its centre) or a
  ``<polygon>`` (``"lat,lon lat,lon ..."``: its centroid); an alert with geocodes only has no position.
* ``kind``: ``panic`` when the event or a category says panic or duress, else ``sensor``.

Refused, one record each: ``status`` other than ``Actual`` (exercises, tests, system and draft
messages must not reach a live map); ``msgType`` ``Cancel`` (the reason names the withdrawn
``sender,identifier`` ids: cancellations are not applied yet), ``Ack`` and ``Error``. An ``Update`` is
read as its own alert. The XML goes through defusedxml only: DTDs, entity expansion and external
entities make the whole payload a PayloadError.
"""

from __future__ import annotations

import hashlib
import re
from xml.etree.ElementTree import Element, tostring

from apps.sensors.choices import AlertKind

from .base import AlertRecord, ParseResult, PayloadError, check_payload_size, register
from .common import RecordError, centroid, collect, coords, excerpt, parse_xml, text, timestamp, xml_text

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
OTHER_CAP = re.compile(r"\{urn:oasis:names:tc:emergency:cap:([0-9.]+)\}alert")
MAX_SOURCE_ID = 64
MAX_DETAIL = 4000
PANIC_WORDS = re.compile(r"\b(panic|duress)\b", re.IGNORECASE)


@register
class CapAdapter:
    """CAP 1.2 XML alerts (see the module docstring)."""

    kind = "cap"
    label = "CAP 1.2 alerts (XML)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        try:
            root = parse_xml(payload, "CAP payload")
        except RecordError as exc:
            raise PayloadError(str(exc)) from None
        if root.tag == NS + "alert":
            alerts = [root]
        else:
            alerts = list(root.iter(NS + "alert"))
        if not alerts:
            other = OTHER_CAP.fullmatch(root.tag) or next(
                (m for el in root.iter() if (m := OTHER_CAP.fullmatch(el.tag))), None
            )
            if other:
                raise PayloadError(f"CAP {other.group(1)} is not read; send CAP 1.2")
            raise PayloadError(f"no CAP 1.2 <alert> in the document (root element {root.tag!r})")
        return collect(alerts, alert_from_cap, raw=lambda el: excerpt(tostring(el, encoding="unicode")))


def _child(element: Element, name: str) -> str:
    return xml_text(element.find(NS + name))


def alert_from_cap(alert: Element) -> AlertRecord:
    identifier = text(_child(alert, "identifier"), "identifier", max_len=500)
    sender = text(_child(alert, "sender"), "sender", max_len=500)
    status = _child(alert, "status")
    if status != "Actual":
        raise RecordError(f"status {status or '(missing)'!r}: only Actual alerts are shown")
    msg_type = _child(alert, "msgType")
    if msg_type == "Cancel":
        withdrawn = ", ".join(_referenced(alert)) or "(no references given)"
        raise RecordError(f"msgType Cancel withdraws {withdrawn}; cancellations are not applied yet")
    if msg_type in ("Ack", "Error"):
        raise RecordError(f"msgType {msg_type} answers another message; it is not an alert")
    if msg_type not in ("Alert", "Update"):
        raise RecordError(f"msgType {msg_type or '(missing)'!r} is not a CAP message type")
    info = _info(alert)
    event = text(_child(info, "event"), "info/event")
    categories = [xml_text(c) for c in info.findall(NS + "category")]
    kind = AlertKind.PANIC if any(PANIC_WORDS.search(w) for w in [event, *categories]) else AlertKind.SENSOR
    areas = info.findall(NS + "area")
    position = _position(areas)
    return AlertRecord(
        source_id=source_id(sender, identifier),
        kind=kind.value,
        title=event,
        raised_at=timestamp(_child(alert, "sent"), "sent"),
        lon=position[0] if position else None,
        lat=position[1] if position else None,
        detail=_detail(info, areas),
    )


def source_id(sender: str, identifier: str) -> str:
    joined = f"{sender},{identifier}"
    if len(joined) <= MAX_SOURCE_ID:
        return joined
    # Long ids (NWS uses OIDs) still need a stable key that fits the column.
    return "cap:" + hashlib.sha256(joined.encode()).hexdigest()[: MAX_SOURCE_ID - 4]


def _referenced(alert: Element) -> list[str]:
    """`sender,identifier` of each `sender,identifier,sent` triple in <references>."""
    return [",".join(ref.split(",")[:2]) for ref in _child(alert, "references").split() if ref.count(",") == 2]


def _info(alert: Element) -> Element:
    infos = alert.findall(NS + "info")
    if not infos:
        raise RecordError("the alert has no <info> block")
    english = (i for i in infos if (_child(i, "language") or "en-US").lower().startswith("en"))
    return next(english, infos[0])


def _position(areas: list[Element]) -> tuple[float, float] | None:
    for area in areas:
        for circle in area.findall(NS + "circle"):
            centre = xml_text(circle).split(" ")[0]
            return coords(*_lat_lon(centre, "circle")[::-1])
        for polygon in area.findall(NS + "polygon"):
            ring = [_lat_lon(pair, "polygon")[::-1] for pair in xml_text(polygon).split()]
            if len(ring) < 4 or ring[0] != ring[-1]:
                raise RecordError("polygon must be at least four lat,lon pairs with the first repeated last")
            return coords(*centroid(ring))
    return None


def _lat_lon(pair: str, name: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in pair.split(","))
    except ValueError:
        raise RecordError(f"{name} point {pair!r} is not lat,lon") from None
    return lat, lon


def _paragraphs(element: Element | None) -> str:
    """Text with its line breaks kept (descriptions are written as paragraphs), blank edges trimmed."""
    if element is None:
        return ""
    lines = (" ".join(line.split()) for line in "".join(element.itertext()).strip().splitlines())
    return "\n".join(lines)


def _detail(info: Element, areas: list[Element]) -> str:
    parts = [_paragraphs(info.find(NS + name)) for name in ("headline", "description", "instruction")]
    places = "; ".join(d for d in (_child(area, "areaDesc") for area in areas) if d)
    if places:
        parts.append(f"Area: {places}")
    detail = "\n\n".join(p for p in parts if p)
    return detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"
