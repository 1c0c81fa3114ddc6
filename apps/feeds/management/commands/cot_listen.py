"""`manage.py cot_listen --source ID [--tcp PORT] [--udp PORT] [--host ADDRESS] [--multicast GROUP]
[--offer-protobuf]`: receive Cursor on Target (XML and TAK protocol v1).

Each batch of framed events goes to `feed_ingest` for the source (parsed by the `cot` adapter) and is logged
as one line (accepted, duplicates, rejected, ignored). Runs until SIGINT/SIGTERM, then flushes what it
holds. Examples:

    manage.py cot_listen --source 3 --tcp 8087              # TAK clients' streaming port, loopback only
    manage.py cot_listen --source 3 --tcp 8087 --offer-protobuf   # ask ATAK to switch to TAK protocol
    manage.py cot_listen --source 3 --udp 4242 --host 0.0.0.0     # unicast UDP on a trusted network
    manage.py cot_listen --source 3 --udp 6969 --multicast 239.2.3.1   # ATAK mesh SA (multicast)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.feeds import listeners
from apps.feeds.adapters.base import PayloadError
from apps.feeds.models import FeedSource
from apps.feeds.services import FeedUnavailable, IngestReport, feed_ingest

log = logging.getLogger(__name__)


def _port(value: int | None, option: str) -> int | None:
    if value is not None and not 0 <= value <= 65535:
        raise CommandError(f"{option} must be a port number 0..65535 (0 picks a free one), got {value}")
    return value


def ingest(source_id: int, payload: bytes) -> IngestReport | None:
    """The production `ingest`: one feed_ingest call per batch, on the listener's worker thread.
    Returns the batch's report (None when the whole batch was refused)."""
    # The worker thread keeps its database connection between batches; one the server dropped while the
    # listener sat idle must be replaced, not fail the next batch.
    close_old_connections()
    try:
        report = feed_ingest(source_id=source_id, payload=payload, content_type="application/xml")
    except PayloadError as exc:
        # Already stored as a dead letter by feed_ingest; a traceback would add nothing.
        log.warning("CoT source %s: batch refused: %s", source_id, exc)
        return None
    except FeedUnavailable as exc:
        log.error("CoT source %s: %s; events are not stored", source_id, exc)
        return None
    # One line per batch: what came in and what became of it, so an operator sees drops as they happen.
    log.info(
        "CoT source %s: batch accepted %d, duplicates %d, rejected %d (dead letters), ignored %d %s",
        source_id,
        report.accepted,
        report.duplicates,
        len(report.rejected),
        sum(report.ignored.values()),
        dict(report.ignored) or "",
    )
    return report


class Command(BaseCommand):
    help = "Listen for Cursor on Target (CoT) events over TCP and/or UDP and ingest them for one feed source."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", type=int, required=True, dest="source_id", help="feed source id")
        parser.add_argument("--tcp", type=int, metavar="PORT", help="TCP port (TAK streaming)")
        parser.add_argument("--udp", type=int, metavar="PORT", help="UDP port (one or more events per datagram)")
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to bind; loopback by default, as CoT has no authentication"
        )
        parser.add_argument(
            "--multicast",
            metavar="GROUP",
            default="",
            help="receive UDP from this multicast group (TAK mesh SA: 239.2.3.1 with --udp 6969), joined on --host",
        )
        parser.add_argument(
            "--offer-protobuf",
            action="store_true",
            help="announce TAK protocol 1 (t-x-takp-v) to TCP clients, so ATAK switches to protobuf",
        )
        parser.add_argument(
            "--max-buffer", type=int, default=listeners.MAX_BUFFER, help="bytes one unfinished TCP event may use"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tcp = _port(options["tcp"], "--tcp")
        udp = _port(options["udp"], "--udp")
        if tcp is None and udp is None:
            raise CommandError("give --tcp PORT, --udp PORT or both")
        if options["multicast"] and udp is None:
            raise CommandError("--multicast needs --udp PORT")
        if options["max_buffer"] < 1024:
            raise CommandError("--max-buffer must be at least 1024 bytes")
        source = FeedSource.objects.filter(pk=options["source_id"]).first()
        if source is None or not source.enabled:
            raise CommandError(f"feed source {options['source_id']} does not exist or is disabled")
        if source.kind != "cot":
            raise CommandError(f"feed source {source.pk} is of kind {source.kind!r}; the listener feeds 'cot' sources")
        listener = listeners.CotListener(
            ingest,
            options["source_id"],
            host=options["host"],
            tcp_port=tcp,
            udp_port=udp,
            max_buffer=options["max_buffer"],
            offer_protobuf=options["offer_protobuf"],
            udp_group=options["multicast"],
        )
        try:
            asyncio.run(self._serve(listener))
        except OSError as exc:  # port taken, address not on this host, no permission for a low port
            raise CommandError(f"cannot listen on {options['host']}: {exc}") from None

    async def _serve(self, listener: listeners.CotListener) -> None:
        await listener.start()
        ports = (("tcp", listener.tcp_port), ("udp", listener.udp_port))
        where = ", ".join(f"{proto}://{listener.host}:{port}" for proto, port in ports if port is not None)
        self.stdout.write(f"CoT listener for source {listener.source_id} on {where}")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(listener.stop()))
        await listener.serve_forever()
        self.stdout.write(
            f"stopped: {listener.batcher.delivered_events} events delivered, "
            f"{listener.batcher.failed_batches} batches failed, {listener.batcher.dropped_events} dropped"
        )
