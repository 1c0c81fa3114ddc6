"""How exact an incident's place is: block-masked addresses and beat-level places are approximate."""

from __future__ import annotations

import re

# Agencies that publish calls blur the house number to its block: St. Louis writes "11XX BATES ST", others
# "0XX", "1200 BLOCK OF ...", "12## MAIN" or "BLK 1200 MAIN". The geocode of such an address is the block's.
_MASKED = re.compile(
    r"""^\s*(?:
        \d*[X#*]{2,}(?=\s|$)      # 11XX, 1XX, 0XX, 12##
      | \d+\s+BLOCK\b             # 1200 BLOCK OF MAIN ST
      | (?:BLK|BLOCK)\s+\d+       # BLK 1200 MAIN
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def address_is_masked(address: str) -> bool:
    """Whether the address names a block rather than a door (so its coordinates are the block's)."""
    return bool(address) and _MASKED.match(address) is not None


def split_call_signs(text: str) -> list[str]:
    """The unit call signs in a CAD cell ("B791", "E5, M12", "E5;M12"), in order, without duplicates."""
    return list(dict.fromkeys(part.strip() for part in re.split(r"[,;|]", text) if part.strip()))
