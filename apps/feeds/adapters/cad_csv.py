"""CAD incidents as CSV (kind ``cad_csv``): the file importer's pipeline on a live payload.

Format
------
A header row, then one incident per row. The payload is read by the shared readers (apps.intake.readers:
any delimiter, byte-order mark, quoted cells with line breaks) and each row is converted by the source's
mapping with the same ``convert_record`` as ``manage.py import_layer incidents``, so a mapping file that
imports a CAD export also drives the live feed of the same CAD (fixtures/mappings/README.md).

Without a mapping, columns named like our fields are used (case and surrounding spaces ignored)::

    cad_number,type_code,type_description,priority,status,address,lon,lat,received_at,dispatched_at,
    on_scene_at,closed_at,units,narrative

Required: ``cad_number``, ``type_code``, a location (``lon``/``lat`` or a mapping's ``wkt`` column) and
``received_at``. Times are the mapping's ``datetime_format``, ISO 8601 or epoch seconds / milliseconds; a
time without an offset is read in the mapping's ``tz`` and, for a feed without one, rejects the row. Status
words are the one shared list (apps.intake.vocab) plus the mapping's ``values.status``; without a status
the latest time given decides. Two columns are this protocol's own, and may be named in the mapping's
``fields``: ``units`` (call signs separated by ``;``, ``,`` or ``|``) and ``narrative`` (one line entered
at ``received_at``).

``params``: ``{"mapping": {...} | "file name"}`` and ``{"encoding": "cp1252"}`` (default UTF-8, a
byte-order mark is ignored); the older ``fields``/``timezone``/``delimiter``/``statuses`` are aliases
(apps.feeds.adapters.mapped).

A broken row (a stray quote, the wrong number of cells) is rejected with its line; the rest of the payload
is read. ``Rejected.index`` is the 0-based position among the non-blank data rows, ``line`` its line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from apps.incidents.choices import IncidentStatus
from apps.incidents.locations import split_call_signs
from apps.intake.errors import RowError
from apps.intake.mapping import convert_record

from .base import IncidentRecord, NarrativeLine, ParseResult, register
from .common import MAX_FUTURE, RecordError, text
from .mapped import extra_columns, feed_mapping_spec, mapped_payload, rejection

FEED_FIELDS = ("units", "narrative")
TIME_FIELDS = ("received_at", "dispatched_at", "on_scene_at", "closed_at")
MAX_NARRATIVE_TEXT = 4000


def implied_status(kwargs: dict[str, Any]) -> str:
    """Without a status, the furthest time given says how far along the incident is."""
    if kwargs.get("closed_at"):
        return IncidentStatus.CLOSED.value
    if kwargs.get("on_scene_at"):
        return IncidentStatus.ON_SCENE.value
    if kwargs.get("dispatched_at"):
        return IncidentStatus.DISPATCHED.value
    return IncidentStatus.PENDING.value


def incident_from_kwargs(
    kwargs: dict[str, Any],
    *,
    units: str = "",
    narrative: str = "",
    now: datetime | None = None,
    own: dict[str, tuple[str, ...]] | None = None,
) -> IncidentRecord:
    """An IncidentRecord from `convert_record`'s keyword arguments for the incidents layer, with a live
    feed's own checks (no times in the future) and its own columns (`own`, which are taken, so they are
    not also kept among the unmapped `attributes`)."""
    now = now or datetime.now(UTC)
    kwargs = dict(kwargs)
    for name in TIME_FIELDS:
        when = kwargs.get(name)
        if when is None:
            continue
        # A fixed offset: a zone-aware local time in the autumn overlap never compares equal across zones.
        kwargs[name] = when = when.astimezone(timezone(when.utcoffset() or timedelta(0)))
        if when > now + MAX_FUTURE:
            raise RowError(f"{name} {when.isoformat()} is in the future", field=name)
    location = kwargs.get("location")
    if location is None and not kwargs.get("beat_code"):
        raise RowError("no location: no coordinates and no beat", field="lon")
    lines: tuple[NarrativeLine, ...] = ()
    if narrative.strip():
        try:
            lines = (NarrativeLine(kwargs["received_at"], text(narrative, "narrative", max_len=MAX_NARRATIVE_TEXT)),)
        except RecordError as exc:
            raise RowError(str(exc), field="narrative") from None
    refs = tuple(split_call_signs(units))
    if any(len(ref) > 32 for ref in refs):
        raise RowError("units: a call sign is longer than 32 characters", field="units")
    return IncidentRecord(
        cad_number=kwargs["cad_number"],
        type_code=kwargs["type_code"],
        type_description=kwargs.get("type_description") or "",
        priority=kwargs.get("priority") or 3,
        status=kwargs.get("status") or implied_status(kwargs),
        address=kwargs.get("address") or "",
        lon=location.x if location is not None else None,
        lat=location.y if location is not None else None,
        received_at=kwargs["received_at"],
        dispatched_at=kwargs.get("dispatched_at"),
        on_scene_at=kwargs.get("on_scene_at"),
        closed_at=kwargs.get("closed_at"),
        narrative=lines,
        unit_refs=refs,
        call_source=kwargs.get("call_source") or "unknown",
        disposition=kwargs.get("disposition") or "",
        location_approximate=bool(kwargs.get("location_approximate")),
        beat_code=kwargs.get("beat_code") or "",
        attributes=_unmapped(kwargs.get("attributes"), own),
    )


def _unmapped(attributes: dict | None, own: dict[str, tuple[str, ...]] | None) -> dict | None:
    taken = {column for columns in (own or {}).values() for column in columns}
    return {k: v for k, v in (attributes or {}).items() if k not in taken} or None


def _cell(values: dict[str, Any], columns: tuple[str, ...] | None) -> str:
    for column in columns or ():
        value = values.get(column)
        if value not in (None, ""):
            return str(value)
    return ""


@register
class CadCsvAdapter:
    """CAD incidents as CSV rows with a header, read through the source's mapping (see the module docstring)."""

    kind = "cad_csv"
    label = "CAD incidents (CSV)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        params = params or {}
        spec, extras = feed_mapping_spec(params, extra_fields=FEED_FIELDS)
        result = ParseResult()
        encoding = params.get("encoding") or "utf-8-sig"
        with mapped_payload(payload, fmt="csv", spec=spec, layer="incidents", encoding=str(encoding)) as (
            mapping,
            opened,
        ):
            own = extra_columns(extras, FEED_FIELDS, opened.columns)
            for record in opened.records:
                try:
                    kwargs = convert_record(record=record, mapping=mapping)
                    result.records.append(
                        incident_from_kwargs(
                            kwargs,
                            units=_cell(record.values, own.get("units")),
                            narrative=_cell(record.values, own.get("narrative")),
                            own=own,
                        )
                    )
                except RowError as exc:
                    result.rejected.append(rejection(record, exc, delimiter=opened.delimiter))
        return result
