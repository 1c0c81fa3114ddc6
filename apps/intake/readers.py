"""Readers, shared by the file importer and the feed adapters: a CSV (any delimiter, byte-order mark,
gzipped files), GeoJSON FeatureCollection, plain JSON or XML (apps.intake.xmlrecords) file or payload
turned into `Record`s (column -> value, plus the GeoJSON geometry of a feature or KML placemark).

A row the reader can already see is broken (a stray quote, the wrong number of cells) is a record with a
`problem`: it is rejected with its line, and the rows beside it are read as usual."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from apps.core.geo import SRID, GeoInputError, check_srid
from apps.intake.errors import ImportFileError
from apps.intake.osm import osm_source

# ---------------------------------------------------------------------------------------------------------------------
# Reading files and payloads

FORMATS = ("csv", "geojson", "json", "xml")
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
# The report keeps raw rows for an operator to read; a whole city outline per line helps no one.
MAX_RAW_CHARS = 10_000
# A quoted cell may hold line breaks (a narrative), but a stray quote must not swallow the rest of the file:
# past this many physical lines the row is cut back to its first line and rejected alone.
MAX_LINES_PER_ROW = 200
CRS84_NAMES = frozenset(
    {
        "URN:OGC:DEF:CRS:OGC:1.3:CRS84",
        "URN:OGC:DEF:CRS:OGC::CRS84",
        "OGC:CRS84",
        "CRS84",
        "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84",
    }
)
EPSG_NAME = re.compile(r"(?:URN:OGC:DEF:CRS:EPSG:[0-9.]*:|EPSG:{1,2}|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/EPSG/0/)(\d+)")


@dataclass(frozen=True, slots=True)
class Record:
    """One data row as read from the file or payload, before any mapping."""

    index: int  # 1-based position among the data rows (features, objects, elements)
    line: int | None  # first physical line of the row; CSV only
    values: dict[str, Any]
    geometry: Any = None  # the GeoJSON geometry member of a feature (or a KML placemark's), None if absent
    raw: Any = None  # the row as read: list of cells (CSV), the JSON object, or the XML text
    problem: str = ""  # set when the reader already knows the row is unusable
    problem_field: str = ""  # the column the problem is in, when it is one column's


@dataclass
class Source:
    """An opened data file or payload: its format, column names and a one-pass iterator over its records."""

    format: str
    columns: tuple[str, ...]
    records: Iterator[Record]
    has_geometry: bool = False
    delimiter: str = ","


def detect_format(*, path: Path) -> str:
    """The format named by the file's extension (a trailing .gz is looked through)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = os.path.splitext(name)[1]
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix == ".geojson":
        return "geojson"
    if suffix == ".json":
        return "json"
    if suffix in (".xml", ".kml"):
        return "xml"
    raise ImportFileError(
        f"cannot tell the format of {path.name!r} from its extension; pass --format csv|geojson|json|xml"
    )


def sniff_format(data: bytes) -> str:
    """The format of a payload from its first character: JSON, XML, else CSV."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    if head[:1] == b"<":
        return "xml"
    return "csv"


def _open_binary(path: Path) -> IO[bytes]:
    try:
        if path.name.lower().endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        return open(path, "rb")
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror or exc}") from None


def _guess_delimiter(first_line: str) -> str:
    # The header rarely quotes anything, so the candidate that splits it into the most columns wins;
    # csv.Sniffer guesses from the data and is easily fooled by commas inside addresses.
    best, best_count = ",", 1
    for candidate in DELIMITER_CANDIDATES:
        count = len(next(csv.reader([first_line], delimiter=candidate), []))
        if count > best_count:
            best, best_count = candidate, count
    return best


class Undecodable(str):
    """A physical line that is not valid text in the file's encoding: its text with the bad bytes kept as
    surrogates (so its cells can still be told apart), and `reason`."""

    reason: str = ""


# A byte the encoding cannot read, kept by errors="surrogateescape" (U+DC80..U+DCFF).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _undecodable(values: dict[str, Any]) -> tuple[str, str]:
    """(column, reason) for the first cell holding a byte the encoding could not read, else ("", "")."""
    for column, cell in values.items():
        found = None if not isinstance(cell, str) or cell.isascii() else _ESCAPED_BYTE.search(cell)
        if found:
            return column, f"{column}: byte 0x{ord(found.group()) - 0xDC00:02X} is not valid in the file's encoding"
    return "", ""


def decoded_lines(binary: IO[bytes], *, encoding: str, name: str) -> Iterator[str]:
    """The text lines of a byte stream, decoded line by line so that one bad byte costs one row: such a line
    comes out as an `Undecodable` holding the reason. (UTF-16/32 cannot be split on b"\\n": decoded whole.)"""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ImportFileError(f"{name}: {encoding!r} is not a known text encoding") from None
    if codec.name.startswith(("utf-16", "utf-32")):
        try:
            yield from io.StringIO(binary.read().decode(encoding), newline="")
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{name}: not valid {encoding} text ({exc.reason} at byte {exc.start})") from None
        return
    first = True
    for raw in binary:
        try:
            # Only the first line may carry a byte-order mark.
            text = raw.decode(encoding if first else ("utf-8" if codec.name == "utf-8-sig" else encoding))
        except UnicodeDecodeError as exc:
            line = Undecodable(raw.decode("utf-8" if codec.name == "utf-8-sig" else encoding, "surrogateescape"))
            line.reason = (
                f"not valid {encoding} text ({exc.reason} at byte {exc.start} of the line); "
                "if the whole file is in another encoding, give it (--encoding, or the feed's params 'encoding')"
            )
            yield line
            first = False
            continue
        first = False
        if "\r" in text.rstrip("\r\n"):
            # Old Mac line ends (a bare CR) inside what b"\\n" split as one line.
            yield from io.StringIO(text, newline="")
        else:
            yield text


def _parse_lines(lines: list[str], delimiter: str) -> list[str]:
    """The cells of one logical row; csv.Error when the quoting is broken or still open at the end."""
    text = "".join(lines)
    if '"' not in text:
        return text.rstrip("\r\n").split(delimiter)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    if len(rows) != 1:
        raise csv.Error("the row does not end where it should")
    return rows[0]


def csv_rows(lines: Iterator[str], *, delimiter: str, width: int) -> Iterator[tuple[int, list[str], str]]:
    """(first line number, cells, problem) per data row after the header (line 1).

    A row with broken quoting (a stray quote, text after a closing quote, a quote never closed) or the
    wrong number of cells is yielded with its problem and costs only itself: when a quote opened on one
    line does not close into a row of the header's width, that first line is the rejected row and reading
    goes on from the line after it.
    """
    pending: list[tuple[int, str]] = []
    numbered = enumerate(lines, start=2)

    def take() -> tuple[int, str] | None:
        if pending:
            return pending.pop(0)
        return next(numbered, None)

    while (first := take()) is not None:
        line_no, text = first
        if isinstance(text, Undecodable):
            # Its cells as far as they can be read: the record names the column holding the bad byte.
            yield line_no, next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), []), text.reason
            continue
        if not text.strip():
            continue
        taken = [first]
        cells: list[str] | None = None
        problem = ""
        while True:
            try:
                cells = _parse_lines([t for _, t in taken], delimiter)
                break
            except csv.Error as exc:
                problem = str(exc)
                if "unexpected end of data" not in problem or len(taken) >= MAX_LINES_PER_ROW:
                    break
                more = take()
                if more is None:
                    break
                if isinstance(more[1], Undecodable):
                    pending.insert(0, more)
                    break
                taken.append(more)
        if cells is not None and len(taken) > 1 and len(cells) != width:
            cells = None
            problem = "unexpected end of data"
        if cells is None:
            pending[:0] = taken[1:]
            if len(taken) > 1 or "unexpected end of data" in problem:
                problem = "a quote opened in this row is never closed (stray quote?)"
            else:
                problem = f"broken quoting: {problem}"
            yield line_no, next(csv.reader([text], delimiter=delimiter), []), problem
            continue
        if len(cells) != width:
            yield line_no, cells, f"row has {len(cells)} cells but the header has {width} (check delimiter and quoting)"
            continue
        yield line_no, cells, ""


def _csv_records(lines: Iterator[str], header: list[str], delimiter: str, name: str) -> Iterator[Record]:
    index = 0
    width = len(header)
    last_line = 1
    try:
        for line, cells, problem in csv_rows(lines, delimiter=delimiter, width=width):
            last_line = line
            index += 1
            # A short row's missing cells read as empty; the problem still rejects it.
            values = dict(zip(header, cells, strict=False))
            column, bad_byte = _undecodable(values)
            if column:  # the line's reason (encoding, where, what to do), with the column it is in
                problem = f"{column}: {problem}" if problem else bad_byte
            yield Record(index=index, line=line, values=values, raw=cells, problem=problem, problem_field=column)
    except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(f"{name}: cannot read past line {last_line}: {exc}") from None


def _csv_source(lines: Iterator[str], *, name: str, delimiter: str | None, tsv: bool) -> Source:
    try:
        first_line = next(lines, "")
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(f"{name}: cannot read the header line: {exc}") from None
    if isinstance(first_line, Undecodable):
        raise ImportFileError(f"{name}: the header line is {first_line.reason}")
    if not first_line.strip():
        raise ImportFileError(f"{name}: empty (a CSV needs a header line)")
    if delimiter is None:
        delimiter = "\t" if tsv else _guess_delimiter(first_line)
    elif len(delimiter) != 1 or delimiter in '"\r\n':
        raise ImportFileError(f"the delimiter must be one character other than a quote or newline, got {delimiter!r}")
    try:
        header = [column.strip().lstrip("\ufeff") for column in next(csv.reader([first_line], delimiter=delimiter))]
    except csv.Error as exc:
        raise ImportFileError(f"{name}: the header line cannot be read: {exc}") from None
    if not all(header):
        raise ImportFileError(f"{name}: the header has an empty column name: {header}")
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise ImportFileError(f"{name}: duplicate column names in the header: {', '.join(duplicates)}")
    return Source(
        format="csv",
        columns=tuple(header),
        records=_csv_records(lines, header, delimiter, name),
        delimiter=delimiter,
    )


def _load_json(data: bytes, name: str) -> Any:
    try:
        # NaN/Infinity are read: the row holding one is rejected by the number checks, not the whole file.
        return json.loads(data)
    except RecursionError:
        raise ImportFileError(f"{name} is nested too deeply to be JSON data") from None
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{name} is not valid JSON: {exc}") from None
    except ValueError as exc:  # UnicodeDecodeError
        raise ImportFileError(f"{name} is not valid JSON: {exc}") from None


def _read_all(path: Path) -> bytes:
    with _open_binary(path) as binary:
        try:
            return binary.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise ImportFileError(f"cannot read {path.name}: {exc}") from None


def crs_srid(crs: Any) -> int:
    """The SRID named by a GeoJSON (2008) "crs" member, if it is one we accept; GeoInputError otherwise."""
    if not isinstance(crs, dict):
        raise GeoInputError("the GeoJSON crs member must be an object")
    properties: dict[str, Any] = crs["properties"] if isinstance(crs.get("properties"), dict) else {}
    if crs.get("type") == "name":
        name = str(properties.get("name", "")).strip()
        upper = name.upper()
        if upper in CRS84_NAMES:
            return SRID
        match = EPSG_NAME.fullmatch(upper)
        if match:
            return check_srid(match.group(1))
        raise GeoInputError(f"crs {name!r} is not understood; send WGS84 lon/lat (EPSG:4326)")
    if crs.get("type") == "EPSG":
        return check_srid(properties.get("code"))
    raise GeoInputError(f"crs type {crs.get('type')!r} is not supported; send WGS84 lon/lat (EPSG:4326)")


def with_paths(obj: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """The object's keys plus, for nested objects, dotted paths to their members ("position.lat"), so a
    mapping can name a nested value as a column (two levels deep; a key that has the dot itself wins)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.setdefault(f"{prefix}{key}", value)
        if isinstance(value, dict) and depth < 2:
            for path, inner in with_paths(value, f"{prefix}{key}.", depth + 1).items():
                out.setdefault(path, inner)
    return out


def _union_columns(objects: list[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for obj in objects:
        if isinstance(obj, dict):
            seen.update(dict.fromkeys(str(key) for key in with_paths(obj)))
    return tuple(seen)


def _feature_records(features: list[Any]) -> Iterator[Record]:
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield Record(index=index, line=None, values={}, raw=feature, problem="not a GeoJSON Feature")
            continue
        properties = feature.get("properties")
        values = with_paths(properties) if isinstance(properties, dict) else {}
        if "id" in feature:
            values.setdefault("_id", feature["id"])
        problem = ""
        if properties is not None and not isinstance(properties, dict):
            problem = "feature properties must be an object"
        elif "crs" in feature:
            try:
                crs_srid(feature["crs"])
            except GeoInputError as exc:
                problem = str(exc)
        yield Record(
            index=index, line=None, values=values, geometry=feature.get("geometry"), raw=feature, problem=problem
        )


def _object_records(objects: list[Any]) -> Iterator[Record]:
    for index, obj in enumerate(objects, start=1):
        if not isinstance(obj, dict):
            yield Record(index=index, line=None, values={}, raw=obj, problem="not a JSON object")
            continue
        yield Record(index=index, line=None, values=with_paths(obj), raw=obj)


def _geojson_source(data: Any, name: str) -> Source:
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ImportFileError(f"{name} is not a GeoJSON FeatureCollection")
    if "crs" in data:
        try:
            crs_srid(data["crs"])
        except GeoInputError as exc:
            raise ImportFileError(f"{name}: {exc}") from None
    features = data.get("features")
    if not isinstance(features, list):
        raise ImportFileError(f"{name}: the FeatureCollection has no features list")
    properties = [f.get("properties") for f in features if isinstance(f, dict)]
    columns = _union_columns(properties)
    if any(isinstance(f, dict) and "id" in f for f in features):
        columns = (*columns, "_id")
    return Source(format="geojson", columns=columns, records=_feature_records(features), has_geometry=True)


def _json_source(data: Any, name: str, json_path: str | None) -> Source:
    if json_path:
        for key in json_path.split("."):
            if not isinstance(data, dict) or key not in data:
                raise ImportFileError(f"{name}: --json-path {json_path!r} not found (no {key!r})")
            data = data[key]
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return _geojson_source(data, name)
    if isinstance(data, dict) and data and all(isinstance(value, dict) for value in data.values()):
        # An object of objects keyed by id (a common "export" shape): the key is offered as column _id.
        objects: list[Any] = [{**value, "_id": key} if "_id" not in value else value for key, value in data.items()]
    elif isinstance(data, list):
        objects = data
    else:
        hint = "" if json_path else "; if the rows are inside an object, pass --json-path KEY"
        raise ImportFileError(f"{name}: expected a list of objects{hint}")
    return Source(format="json", columns=_union_columns(objects), records=_object_records(objects))


@contextmanager
def open_source(
    *,
    path: Path | None = None,
    data: bytes | None = None,
    name: str = "payload",
    fmt: str | None = None,
    delimiter: str | None = None,
    json_path: str | None = None,
    record_element: str | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[Source]:
    """Open a data file (`path`) or a payload (`data`, e.g. a feed push) for one pass over its records.

    ImportFileError if it cannot be read at all; a bad row is a record with a `problem`, never an error.
    """
    if path is not None:
        if not path.is_file():
            raise ImportFileError(f"no such file: {path}")
        name = path.name
        fmt = fmt or detect_format(path=path)
    elif data is None:
        raise ImportFileError("nothing to read: give a path or the data")
    else:
        fmt = fmt or sniff_format(data)
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        tsv = name.lower().removesuffix(".gz").endswith(".tsv")
        binary = _open_binary(path) if path is not None else io.BytesIO(cast(bytes, data))
        try:
            lines = decoded_lines(binary, encoding=encoding, name=name)
            yield _csv_source(lines, name=name, delimiter=delimiter, tsv=tsv)
        finally:
            binary.close()
        return
    raw = _read_all(path) if path is not None else data
    assert raw is not None
    if fmt == "xml":
        from apps.intake.xmlrecords import xml_source

        yield xml_source(raw, name=name, record_element=record_element)
        return
    loaded = _load_json(raw, name)
    if fmt == "json" and not json_path and (osm := osm_source(loaded, name)) is not None:  # OSM / Overpass JSON
        yield osm
        return
    yield _geojson_source(loaded, name) if fmt == "geojson" else _json_source(loaded, name, json_path)


# "scheme://user:password@" up to the last "@" before the host's end: a password may hold "@" or ":" unescaped
# (pasted from a VMS). Over-reaching into a neighbouring cell loses a little report text, never a credential.
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")


def without_userinfo(text: str) -> str:
    """`text` with the user name and password taken out of every URL in it (rtsp://user:pass@cam/ ->
    rtsp://cam/): a rejected camera row must not put its stream credentials in a report on disk."""
    return URL_USERINFO.sub(r"\1", text)


def raw_text(*, record: Record, delimiter: str = ",") -> str:
    """The row as it was in the file, for the rejection report, without credentials in URLs."""
    if isinstance(record.raw, list):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(record.raw)
        text = buffer.getvalue()
    elif isinstance(record.raw, str):
        text = " ".join(record.raw.split())
    else:
        text = json.dumps(record.raw, ensure_ascii=False, default=str)
    # Undecodable bytes (kept as surrogates by the CSV reader) become U+FFFD: the report is UTF-8.
    text = without_userinfo(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"
