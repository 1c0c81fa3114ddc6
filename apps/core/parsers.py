"""The API's JSON body parser: DRF's, plus a clear 400 for bodies nested too deeply.

`[[[[...]]]]` a hundred thousand levels deep makes the json module raise RecursionError, which
DRF's parser does not catch (a 500). Bodies deeper than MAX_DEPTH are refused as well, so no
serializer, JSON column or renderer downstream recurses through a hostile structure.
"""
from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A request body of this API is a flat object with at most a small params object inside.
MAX_DEPTH = 32


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests lists/objects more than `limit` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError({"body": "nested too deeply to be read"}) from None
        if json_depth_exceeds(data, MAX_DEPTH):
            raise ParseError({"body": f"nested too deeply: at most {MAX_DEPTH} levels of lists and objects"})
        return data
