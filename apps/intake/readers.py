"""Readers: a CSV (any delimiter, optionally gzipped), GeoJSON FeatureCollection or plain JSON file
turned into `Record`s (column -> value, plus the GeoJSON geometry of a feature)."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
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

# ---------------------------------------------------------------------------------------------------------------------
# Reading files

FORMATS = ("csv", "geojson", "json")
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
# The report keeps raw rows for an operator to read; a whole city outline per line helps no one.
MAX_RAW_CHARS = 10_000
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
    """One data row as read from the file, before any mapping."""

    index: int  # 1-based position among the data rows (features, objects)
    line: int | None  # first physical line of the row; CSV only
    values: dict[str, Any]
    geometry: Any = None  # the GeoJSON geometry member of a feature, None if absent or null
    raw: Any = None  # the row as read: list of cells (CSV) or the JSON object
    problem: str = ""  # set when the reader already knows the row is unusable


@dataclass
class Source:
    """An opened data file: its format, column names and a one-pass iterator over its records."""

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
    raise ImportFileError(f"cannot tell the format of {path.name!r} from its extension; pass --format csv|geojson|json")


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


def _csv_records(reader: Any, header: list[str], path: Path) -> Iterator[Record]:
    index = 0
    previous_line = reader.line_num
    width = len(header)
    try:
        for cells in reader:
            line = previous_line + 1
            previous_line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            index += 1
            problem = ""
            if len(cells) > width:
                problem = f"row has {len(cells)} fields but the header has {width} (check delimiter and quoting)"
            # Short rows are common (trailing empty fields left out); the missing cells read as empty.
            values = dict(zip(header, cells, strict=False))
            problem = problem or _undecodable(values)
            yield Record(index=index, line=line, values=values, raw=cells, problem=problem)
    except (UnicodeDecodeError, csv.Error, OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(f"{path.name}: cannot read past line {reader.line_num}: {exc}") from None


def _undecodable(values: dict[str, Any]) -> str:
    # The text is read with errors="surrogateescape": a byte the encoding cannot read (NOPD's RTCC log has
    # a stray 0xC2) costs its row, with the column named, instead of the rest of the file.
    for column, cell in values.items():
        found = None if cell.isascii() else _ESCAPED_BYTE.search(cell)
        if found:
            return f"{column}: byte 0x{ord(found.group()) - 0xDC00:02X} is not valid in the file's encoding"
    return ""


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


@contextmanager
def _open_csv(*, path: Path, delimiter: str | None, encoding: str) -> Iterator[Source]:
    binary = _open_binary(path)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="", errors="surrogateescape")
    try:
        try:
            first_line = text.readline()
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            raise ImportFileError(f"{path.name}: cannot read the header line: {exc}") from None
        if not first_line.strip():
            raise ImportFileError(f"{path.name}: the file is empty (a CSV needs a header line)")
        if delimiter is None:
            delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else _guess_delimiter(first_line)
        reader = csv.reader(itertools.chain([first_line], text), delimiter=delimiter)
        header = [name.strip() for name in next(reader)]
        if not all(header):
            raise ImportFileError(f"{path.name}: the header has an empty column name: {header}")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ImportFileError(f"{path.name}: duplicate column names in the header: {', '.join(duplicates)}")
        yield Source(
            format="csv", columns=tuple(header), records=_csv_records(reader, header, path), delimiter=delimiter
        )
    finally:
        text.close()


def _load_json(path: Path) -> Any:
    with _open_binary(path) as binary:
        try:
            return json.load(binary)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{path.name} is not valid JSON: {exc}") from None
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
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


def _union_columns(objects: list[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for obj in objects:
        if isinstance(obj, dict):
            seen.update(dict.fromkeys(str(key) for key in obj))
    return tuple(seen)


def _feature_records(features: list[Any]) -> Iterator[Record]:
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield Record(index=index, line=None, values={}, raw=feature, problem="not a GeoJSON Feature")
            continue
        properties = feature.get("properties")
        values = dict(properties) if isinstance(properties, dict) else {}
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
        yield Record(index=index, line=None, values=obj, raw=obj)


def _geojson_source(data: Any, path: Path) -> Source:
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ImportFileError(f"{path.name} is not a GeoJSON FeatureCollection")
    if "crs" in data:
        try:
            crs_srid(data["crs"])
        except GeoInputError as exc:
            raise ImportFileError(f"{path.name}: {exc}") from None
    features = data.get("features")
    if not isinstance(features, list):
        raise ImportFileError(f"{path.name}: the FeatureCollection has no features list")
    properties = [f.get("properties") for f in features if isinstance(f, dict)]
    columns = _union_columns(properties)
    if any(isinstance(f, dict) and "id" in f for f in features):
        columns = (*columns, "_id")
    return Source(format="geojson", columns=columns, records=_feature_records(features), has_geometry=True)


def _json_source(data: Any, path: Path, json_path: str | None) -> Source:
    if json_path:
        for key in json_path.split("."):
            if not isinstance(data, dict) or key not in data:
                raise ImportFileError(f"{path.name}: --json-path {json_path!r} not found (no {key!r})")
            data = data[key]
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return _geojson_source(data, path)
    if isinstance(data, dict) and data and all(isinstance(value, dict) for value in data.values()):
        # An object of objects keyed by id (a common "export" shape): the key is offered as column _id.
        objects: list[Any] = [{**value, "_id": key} if "_id" not in value else value for key, value in data.items()]
    elif isinstance(data, list):
        objects = data
    else:
        hint = "" if json_path else "; if the rows are inside an object, pass --json-path KEY"
        raise ImportFileError(f"{path.name}: expected a list of objects{hint}")
    return Source(format="json", columns=_union_columns(objects), records=_object_records(objects))


@contextmanager
def open_source(
    *,
    path: Path,
    fmt: str | None = None,
    delimiter: str | None = None,
    json_path: str | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[Source]:
    """Open a data file for one pass over its records; ImportFileError if it cannot be read."""
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    fmt = fmt or detect_format(path=path)
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        with _open_csv(path=path, delimiter=delimiter, encoding=encoding) as source:
            yield source
        return
    data = _load_json(path)
    yield _geojson_source(data, path) if fmt == "geojson" else _json_source(data, path, json_path)


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
    else:
        text = json.dumps(record.raw, ensure_ascii=False, default=str)
    # Undecodable bytes (kept as surrogates by the CSV reader) become U+FFFD: the report is UTF-8.
    text = without_userinfo(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"
