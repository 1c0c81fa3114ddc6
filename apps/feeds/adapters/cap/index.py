"""ATOM and RSS 2.0 index feeds of CAP alerts (NWS, MeteoAlarm, GDACS style).

Each entry (`<entry>` / `<item>`) is either
* embedded: it holds a whole CAP `<alert>` (in Atom `<content>`): read as that alert;
* inline: it carries CAP elements in a CAP namespace (`cap:identifier`, `cap:event`, `cap:status`,
  `cap:msgType` or MeteoAlarm's `cap:message_type`, `cap:sent`, `cap:expires`, `cap:areaDesc`,
  `cap:polygon`, `cap:circle`, `cap:geocode`...): it is read as the alert directly; or
* a link to a CAP document: Atom's `<link type="application/cap+xml">` (else its alternate link),
  RSS's `<gdacs:cap>` or an enclosure of a CAP type (else its `<link>`). Only a polled source
  fetches those (apps.feeds.tasks); its `key` (entry id + updated) says whether it changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element

from ..base import AlertRecord
from ..common import RecordError, text, timestamp, xml_text
from . import geometry
from .message import FAR_FUTURE, NAMESPACES, namespace_of, references, source_id

ATOM = "{http://www.w3.org/2005/Atom}"
CAP_TYPES = ("application/cap+xml", "application/common-alerting-protocol+xml")


@dataclass(frozen=True)
class IndexEntry:
    key: str  # entry id + updated: a changed entry has a new key
    element: Element
    link: str  # the CAP document to fetch, "" when the entry is inline
    inline: bool
    alert: Element | None = None  # an embedded CAP <alert>


def is_index(root: Element) -> bool:
    return root.tag in (ATOM + "feed", "rss")


def entries(root: Element) -> list[IndexEntry]:
    items = root.findall(ATOM + "entry") if root.tag == ATOM + "feed" else root.findall("channel/item")
    found = []
    for item in items:
        alert = next((el for el in item.iter() if namespace_of(el)), None)
        inline = alert is not None or any(_cap_ns(child) for child in item)
        entry_id = _local_text(item, "id") or _local_text(item, "guid") or _cap_link(item)
        updated = _local_text(item, "updated") or _local_text(item, "pubDate")
        key = hashlib.sha256(f"{entry_id}\n{updated}".encode()).hexdigest()
        link = "" if inline else _cap_link(item)
        found.append(IndexEntry(key=key, element=item, link=link, inline=inline, alert=alert))
    return found


def feed_sender(root: Element) -> str:
    """Who publishes the feed, for inline entries that do not name a CAP sender (MeteoAlarm's do not)."""
    channel = root.find("channel") if root.tag == "rss" else root
    if channel is None:
        return ""
    return _local_text(channel, "id") or _local_text(channel, "link") or _local_text(channel, "title")


def inline_record(entry: Element, default_sender: str) -> AlertRecord:
    """An inline entry's CAP elements as an AlertRecord (the same rules as a CAP document's alert)."""
    cap = {_local(child.tag): child for child in entry if _cap_ns(child)}

    def get(*names: str) -> str:
        return next((xml_text(cap[n]) for n in names if n in cap), "")

    status = get("status")
    if status != "Actual":
        raise RecordError(f"cap:status {status or '(missing)'!r}: only Actual alerts are shown")
    msg_type = get("msgType", "message_type") or "Alert"
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise RecordError(f"cap:msgType {msg_type!r} is not an alert, update or cancellation")
    identifier = text(
        get("identifier") or _local_text(entry, "id") or _local_text(entry, "guid"), "cap:identifier", max_len=500
    )
    sender = text(get("sender") or default_sender, "cap:sender", max_len=500)
    refs = references(get("references"))
    if msg_type == "Cancel" and not refs:
        raise RecordError("cap:msgType Cancel without cap:references: nothing to cancel")
    # An index summary of an Update seldom repeats its references (MeteoAlarm's do not): it is then
    # read as the alert it now is, and the full document (when fetched) replaces the earlier one.
    event = text(get("event") or _local_text(entry, "title"), "cap:event")
    sent = timestamp(get("sent") or _local_text(entry, "updated") or _local_text(entry, "published"), "cap:sent")
    expires = get("expires")
    rings, point = _geometry(entry)
    area_desc = get("areaDesc")
    detail = "\n\n".join(
        p
        for p in (_local_text(entry, "title"), _local_text(entry, "summary"), f"Area: {area_desc}" if area_desc else "")
        if p
    )
    return AlertRecord(
        source_id=source_id(sender, identifier),
        kind="sensor",
        title=event[:200],
        raised_at=sent,
        lon=point[0] if point else None,
        lat=point[1] if point else None,
        detail=detail[:4000],
        msg_type=msg_type,
        references=refs,
        area=rings,
        geocodes=_geocodes(entry),
        area_desc=area_desc[:500],
        expires_at=timestamp(expires, "cap:expires", now=FAR_FUTURE) if expires else None,
    )


def merge(records: list[AlertRecord]) -> AlertRecord:
    """One alert from the inline entries of one CAP message (MeteoAlarm lists a message once per
    area): their areas, geocodes and area descriptions together, the latest expiry."""
    first = records[0]
    if len(records) == 1:
        return first
    descs = "; ".join(dict.fromkeys(r.area_desc for r in records if r.area_desc))
    expiries = [r.expires_at for r in records if r.expires_at]
    return replace(
        first,
        area=tuple(ring for r in records for ring in r.area),
        geocodes=tuple(dict.fromkeys(c for r in records for c in r.geocodes)),
        area_desc=descs[:500],
        detail="\n\n".join(p for p in (first.title, f"Area: {descs}" if descs else "") if p)[:4000],
        expires_at=max(expiries) if expiries else None,
        lon=next((r.lon for r in records if r.lon is not None), None),
        lat=next((r.lat for r in records if r.lat is not None), None),
    )


def _geometry(entry: Element):
    """cap:polygon / cap:circle of an inline entry, as a CAP `<area>` would give them."""
    area = Element("area")
    for child in entry:
        if _cap_ns(child) and _local(child.tag) in ("polygon", "circle"):
            copy = Element("{x}" + _local(child.tag))
            copy.text = xml_text(child)
            area.append(copy)
    return geometry.areas_geometry([area], "{x}")


def _geocodes(entry: Element) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for child in entry:
        if _cap_ns(child) and _local(child.tag) == "geocode":
            # MeteoAlarm writes valueName/value in the Atom namespace, NWS without one: match by local name.
            parts = {_local(c.tag): xml_text(c) for c in child}
            if parts.get("valueName") and parts.get("value"):
                found[f"{geometry.scheme(parts['valueName'])}:{parts['value']}"] = None
    return tuple(found)


def _cap_link(item: Element) -> str:
    links = [c for c in item if _local(c.tag) in ("link", "enclosure")]
    for link in links:
        if (link.get("type") or "").split(";")[0].strip().lower() in CAP_TYPES:
            return (link.get("href") or link.get("url") or "").strip()
    for child in item:
        if _local(child.tag) == "cap" and xml_text(child).startswith("http"):  # gdacs:cap
            return xml_text(child)
    for link in links:
        if _local(link.tag) == "link":
            if link.get("href") and link.get("rel", "alternate") == "alternate":
                return link.get("href", "").strip()
            if not link.get("href") and xml_text(link):  # RSS <link>text</link>
                return xml_text(link)
    return ""


def _cap_ns(element: Element) -> bool:
    return element.tag.startswith("{") and element.tag[1 : element.tag.find("}")] in NAMESPACES


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _local_text(element: Element, name: str) -> str:
    """Text of the first child named `name` in no namespace or the Atom one."""
    for child in element:
        if child.tag in (name, ATOM + name):
            return xml_text(child)
    return ""
