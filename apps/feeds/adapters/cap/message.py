"""One CAP `<alert>` (1.0, 1.1 or 1.2) as one AlertRecord; see the package docstring for the rules."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from django.conf import settings

from apps.sensors.choices import AlertKind

from ..base import AlertRecord
from ..common import RecordError, text, timestamp, xml_text
from . import geometry

# The namespace of each CAP version we read.
NAMESPACES = {
    "urn:oasis:names:tc:emergency:cap:1.2": "1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "http://www.incident.com/cap/1.0": "1.0",
}
MAX_SOURCE_ID = 64
MAX_DETAIL = 4000
MAX_AREA_DESC = 500
PANIC_WORDS = re.compile(r"\b(panic|duress)\b", re.IGNORECASE)
# CAP 1.0 allowed "Very Likely"; 1.1 and 1.2 say "Likely" for the same thing.
CERTAINTY = {"very likely": "Likely"}
# `expires` is in the future by nature: only its form is checked.
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


def namespace_of(element: Element) -> str | None:
    """`{ns}` of a CAP alert element of a version we read, else None."""
    if element.tag.endswith("}alert"):
        ns = element.tag[1 : element.tag.index("}")]
        if ns in NAMESPACES:
            return "{" + ns + "}"
    return None


def source_id(sender: str, identifier: str) -> str:
    """`sender,identifier` (CAP forbids commas in both); a SHA-256 of it when longer than the column."""
    joined = f"{sender},{identifier}"
    if len(joined) <= MAX_SOURCE_ID:
        return joined
    # Long ids (NWS uses OIDs) still need a stable key that fits the column.
    return "cap:" + hashlib.sha256(joined.encode()).hexdigest()[: MAX_SOURCE_ID - 4]


def references(value: str) -> tuple[str, ...]:
    """The source_id of each `sender,identifier,sent` triple of `<references>`."""
    found = []
    for ref in value.split():
        parts = ref.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise RecordError(f"references entry {ref!r} is not sender,identifier,sent")
        found.append(source_id(parts[0], parts[1]))
    return tuple(found)


def parameters(info: Element, ns: str) -> dict[str, str]:
    """`<parameter>`s of an info block: CAP 1.1/1.2 valueName/value, CAP 1.0 `name=value` text."""
    found: dict[str, str] = {}
    for element in info.findall(ns + "parameter"):
        name_el = element.find(ns + "valueName")
        if name_el is not None:
            found[xml_text(name_el)] = xml_text(element.find(ns + "value"))
        else:
            name, _, value = xml_text(element).partition("=")
            if name:
                found[name.strip()] = value.strip()
    return found


def chosen_infos(alert: Element, ns: str) -> list[Element]:
    """The info blocks in the agency's language (settings.LANGUAGE_CODE's primary subtag; a block
    without `<language>` is en-US), else those in the first block's language. One alert is made of them."""
    infos = alert.findall(ns + "info")
    if not infos:
        return []

    def language(info: Element) -> str:
        return (xml_text(info.find(ns + "language")) or "en-US").split("-")[0].lower()

    wanted = settings.LANGUAGE_CODE.split("-")[0].lower()
    mine = [i for i in infos if language(i) == wanted]
    return mine or [i for i in infos if language(i) == language(infos[0])]


def _child(element: Element, ns: str, name: str) -> str:
    return xml_text(element.find(ns + name))


def alert_record(alert: Element) -> AlertRecord:
    ns = namespace_of(alert)
    if ns is None:
        raise RecordError(f"element {alert.tag!r} is not a CAP 1.0, 1.1 or 1.2 alert")
    identifier = text(_child(alert, ns, "identifier"), "identifier", max_len=500)
    sender = text(_child(alert, ns, "sender"), "sender", max_len=500)
    status = _child(alert, ns, "status")
    if status != "Actual":
        raise RecordError(f"status {status or '(missing)'!r}: only Actual alerts are shown")
    msg_type = _child(alert, ns, "msgType")
    if msg_type in ("Ack", "Error"):
        raise RecordError(f"msgType {msg_type} answers another message; it is not an alert")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise RecordError(f"msgType {msg_type or '(missing)'!r} is not a CAP message type")
    raw_refs = _child(alert, ns, "references")
    refs = references(raw_refs)
    if msg_type in ("Update", "Cancel") and not refs:
        raise RecordError(f"msgType {msg_type} without <references>: nothing to {msg_type.lower()}")
    sent = timestamp(_child(alert, ns, "sent"), "sent")
    infos = chosen_infos(alert, ns)
    if not infos:
        if msg_type == "Cancel":  # a Cancel needs no <info> (IPAWS sends none)
            return AlertRecord(
                source_id=source_id(sender, identifier),
                kind=AlertKind.SENSOR.value,
                title="Cancelled",
                raised_at=sent,
                detail=f"Cancels {raw_refs}",
                msg_type=msg_type,
                references=refs,
            )
        raise RecordError("the alert has no <info> block")
    record = _from_infos(ns, infos, source_id(sender, identifier), sent, msg_type, refs)
    # What a Cancel withdraws, as the sender wrote it (source_ids of long ids are hashes).
    return replace(record, detail=f"Cancels {raw_refs}") if msg_type == "Cancel" else record


def _from_infos(ns, infos, sid, sent, msg_type, refs) -> AlertRecord:
    events = list(dict.fromkeys(text(_child(i, ns, "event"), "info/event") for i in infos))
    categories = [xml_text(c) for i in infos for c in i.findall(ns + "category")]
    panic = any(PANIC_WORDS.search(w) for w in [*events, *categories])
    areas = [a for i in infos for a in i.findall(ns + "area")]
    rings, point = geometry.areas_geometry(areas, ns)
    expiries = [timestamp(e, "info/expires", now=FAR_FUTURE) for i in infos if (e := _child(i, ns, "expires"))]
    area_desc = "; ".join(dict.fromkeys(d for a in areas if (d := _child(a, ns, "areaDesc"))))
    return AlertRecord(
        source_id=sid,
        kind=(AlertKind.PANIC if panic else AlertKind.SENSOR).value,
        title="; ".join(events)[:200],
        raised_at=sent,
        lon=point[0] if point else None,
        lat=point[1] if point else None,
        detail=_detail(ns, infos[0], area_desc),
        msg_type=msg_type,
        references=refs,
        area=rings,
        geocodes=geometry.geocodes(areas, ns),
        area_desc=area_desc[:MAX_AREA_DESC],
        # Several blocks (ECCC sends one per event and language): the alert lasts as long as the last.
        expires_at=max(expiries) if expiries else None,
    )


def _paragraphs(element: Element | None) -> str:
    """Text with its line breaks kept (descriptions are written as paragraphs), blank edges trimmed."""
    if element is None:
        return ""
    lines = (" ".join(line.split()) for line in "".join(element.itertext()).strip().splitlines())
    return "\n".join(lines)


def _detail(ns: str, info: Element, area_desc: str) -> str:
    parts = [_paragraphs(info.find(ns + name)) for name in ("headline", "description", "instruction")]
    certainty = _child(info, ns, "certainty")
    certainty = CERTAINTY.get(certainty.lower(), certainty)
    grading = [
        f"{name} {value}"
        for name, value in (
            ("Severity", _child(info, ns, "severity")),
            ("Urgency", _child(info, ns, "urgency")),
            ("Certainty", certainty),
        )
        if value
    ]
    if grading:
        parts.append(", ".join(grading))
    if area_desc:
        parts.append(f"Area: {area_desc}")
    detail = "\n\n".join(p for p in parts if p)
    return detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"
