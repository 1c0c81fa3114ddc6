"""One rejection report for files and feeds: where the record was, which field, why, and what it said.

The importer lists these for `--report`, the feed adapters return them (as `Rejected`) and the feeds keep
them as dead letters; the reason names the field ("received_at '13/45/2016' is not a valid date/time
(expected %m/%d/%Y or ISO 8601)") so an operator can fix the source without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejection:
    """A record that was not taken. `index` is its position (1-based for files, 0-based in a feed
    payload, -1 for a whole payload), `line` its first physical line when it came from CSV."""

    index: int
    reason: str
    raw: str = ""
    field: str = ""
    line: int | None = None

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"record {self.index}"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "reason": self.reason}
        if self.field:
            out["field"] = self.field
        if self.line is not None:
            out["line"] = self.line
        return out
