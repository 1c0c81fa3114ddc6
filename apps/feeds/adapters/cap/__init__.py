"""OASIS Common Alerting Protocol alerts, versions 1.0, 1.1 and 1.2 (kind ``cap``).

Format
------
An XML document whose root is a CAP ``<alert>`` (namespaces ``http://www.incident.com/cap/1.0``,
``urn:oasis:names:tc:emergency:cap:1.1`` or ``...:1.2``), any XML document holding such alerts (a
batch wrapper), or an ATOM / RSS 2.0 index feed (see ``index.py``): one record per CAP message,
``Rejected.index`` is its position in the document. An XML-DSig ``<Signature>`` in the alert is
ignored (not verified, not an error).

* ``source_id``: ``sender,identifier`` (CAP forbids commas in both); when longer than 64 characters,
  ``cap:`` and a SHA-256 of it, stable across repeats. ``raised_at``: ``sent``.
* ``<info>`` blocks: those in the agency's language (settings.LANGUAGE_CODE, primary subtag; a
  block without ``<language>`` is en-US), else those in the first block's language. ONE alert per
  message: ``title`` is their distinct events joined with "; ", ``detail`` the first block's
  headline, description, instruction, severity/urgency/certainty (1.0's "Very Likely" read as
  "Likely") and the area descriptions, cut at 4000 characters; ``expires_at`` the latest expiry.
* area: every ``<polygon>`` and ``<circle>`` of those blocks' areas (``geometry.py``: circles become
  64-point polygons at their radius; radius 0 is a point), the ``<geocode>``s as "SCHEME:value", and
  the representative point. Geocode-only areas are placed through the agency's zones at store time.
* ``kind``: ``panic`` when an event or category says panic or duress, else ``sensor``.
* ``msgType``: Alert; Update (``references`` name the alerts it replaces in place); Cancel (closes
  them; may have no ``<info>``). Update and Cancel without ``<references>`` are refused.

Refused, one record each: ``status`` other than ``Actual`` (exercises, tests, system and draft
messages must not reach a live map), ``msgType`` Ack and Error. The XML goes through defusedxml
only: DTDs, entity expansion and external entities make the whole payload a PayloadError.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, tostring

from ..base import ParseResult, PayloadError, Rejected, check_payload_size, register
from ..common import RecordError, collect, excerpt, parse_xml
from . import index
from .message import alert_record, namespace_of, source_id

__all__ = ["LINKS_FETCHED", "CapAdapter", "source_id"]

# feed_poll passes this param when it fetched the index's linked documents itself.
LINKS_FETCHED = "_cap_links_fetched"


@register
class CapAdapter:
    """CAP 1.0/1.1/1.2 XML alerts and ATOM/RSS index feeds of them (see the package docstring)."""

    kind = "cap"
    label = "CAP 1.0-1.2 alerts (XML, or an ATOM/RSS feed of them)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        try:
            # A UTF-8 byte order mark (GDACS) is not XML; expat takes bytes with one, but be explicit.
            root = parse_xml(payload.removeprefix(b"\xef\xbb\xbf"), "CAP payload")
        except RecordError as exc:
            raise PayloadError(str(exc)) from None
        if index.is_index(root):
            return _parse_index(root, links_fetched=bool((params or {}).get(LINKS_FETCHED)))
        alerts = [root] if namespace_of(root) else [el for el in root.iter() if namespace_of(el)]
        if not alerts:
            raise PayloadError(
                f"no CAP 1.0, 1.1 or 1.2 <alert> in the document (root element {root.tag!r}), "
                "and it is not an ATOM or RSS feed"
            )
        return collect(alerts, alert_record, raw=_raw)


def _raw(element: Element) -> str:
    return excerpt(tostring(element, encoding="unicode"))


def _parse_index(root: Element, *, links_fetched: bool) -> ParseResult:
    result = ParseResult()
    sender = index.feed_sender(root)
    inline: dict[str, list] = {}  # source_id -> the records of its entries, in feed order
    for position, entry in enumerate(index.entries(root)):
        if entry.inline:
            try:
                if entry.alert is not None:
                    record = alert_record(entry.alert)
                else:
                    record = index.inline_record(entry.element, sender)
            except (RecordError, ValueError) as exc:
                result.rejected.append(Rejected(position, str(exc), _raw(entry.element)))
            else:
                inline.setdefault(record.source_id, []).append(record)
        elif links_fetched:
            continue  # the poller fetched (or skipped as seen) the linked document itself
        elif entry.link:
            result.rejected.append(
                Rejected(
                    position,
                    f"entry links to its CAP document {entry.link}; only a polled source fetches it",
                    _raw(entry.element),
                )
            )
        else:
            result.rejected.append(
                Rejected(position, "entry has neither cap: elements nor a link to a CAP document", _raw(entry.element))
            )
    result.records.extend(index.merge(records) for records in inline.values())
    return result
