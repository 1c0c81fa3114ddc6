"""Starts Daphne (same arguments as the `daphne` command) with an access log that redacts feed tokens.

    python -m rtcc_gis.serve -b 127.0.0.1 -p 8000 rtcc_gis.asgi:application

Daphne's own command writes every request line, OsmAnd's path token included, to its access log;
this entry point swaps in apps.feeds.redaction.RedactingAccessLogGenerator and changes nothing else.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcc_gis.settings")
    from daphne import cli

    from apps.feeds.redaction import RedactingAccessLogGenerator

    # cli.CommandLineInterface.run() builds its access log from this module-level name.
    cli.AccessLogGenerator = RedactingAccessLogGenerator  # type: ignore[misc]
    sys.exit(cli.CommandLineInterface.entrypoint())


if __name__ == "__main__":
    main()
