"""The API's JSON body parser: DRF's, plus a clear 400 for bodies nested too deeply or not text.

`[[[[...]]]]` a hundred thousand levels deep makes the json module raise RecursionError, which
DRF's parser does not catch (a 500). Bodies deeper than MAX_DEPTH are refused as well, so no
serializer, JSON column or renderer downstream recurses through a hostile structure. A string
with a lone surrogate is refused here too: psycopg cannot encode it, so it failed at the INSERT.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A request body of this API is a flat object with at most a small params object inside.
MAX_DEPTH = 32


def json_problem(value: Any, limit: int) -> str | None:
    """Why `value` cannot be taken further, or None: nested more than `limit` levels of lists and
    objects, or a string with a lone UTF-16 surrogate ("\\ud800" is valid JSON, but not UTF-8, so
    PostgreSQL and psycopg refuse it). Checked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _is_utf8(item):
                return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return f"nested too deeply: at most {limit} levels of lists and objects"
        stack.extend((child, depth + 1) for child in children)
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError({"body": "nested too deeply to be read"}) from None
        problem = json_problem(data, MAX_DEPTH)
        if problem:
            raise ParseError({"body": problem})
        return data
