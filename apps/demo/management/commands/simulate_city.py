"""`manage.py simulate_city`: keep the demo city alive by sending live CAD, AVL, ALPR, gunshot and alarm
records to a running server through its real feed endpoints (see `apps.demo.simulator`).

    manage.py simulate_city                                   # against http://127.0.0.1:8000, forever
    manage.py simulate_city --speed 10 --duration 60 --seed 1 # a minute of fast-forward
    manage.py simulate_city --print-cot-source                # the CoT source id, for `cot_listen --source`
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from apps.demo import city
from apps.demo.simulator import CotClient, HttpTransport, SimConfig, Simulator, Stream, WallClock, run
from apps.demo.sources import demo_agency, demo_sources_ensure, demo_tokens_issue, demo_world_load


class Command(BaseCommand):
    help = (
        "Simulate the demo city's live sources (CAD, AVL over OsmAnd and CoT, ALPR, gunshots, CAP alarms) "
        "against a running server, through the same endpoints real sources use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the server's root URL")
        parser.add_argument("--cot-host", default="127.0.0.1", help="CoT listener host (manage.py cot_listen)")
        parser.add_argument("--cot-port", type=int, default=8087, help="CoT listener TCP port")
        parser.add_argument(
            "--cot-wait", type=float, default=5.0, help="seconds to wait for the CoT listener before going without"
        )
        parser.add_argument("--speed", type=float, default=1.0, help="time multiplier (10: ten times faster)")
        parser.add_argument(
            "--duration", type=float, default=None, help="stop after this many seconds (default: run until stopped)"
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
        parser.add_argument("--status-every", type=float, default=30.0, help="seconds between one-line status reports")
        parser.add_argument(
            "--print-cot-source",
            action="store_true",
            help="create the demo feed sources if needed, print the CoT source's id and exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        speed, duration = options["speed"], options["duration"]
        if not speed > 0:
            raise CommandError("--speed must be more than 0")
        if duration is not None and duration <= 0:
            raise CommandError("--duration must be more than 0 seconds")
        if not 0 < options["cot_port"] < 65536:
            raise CommandError("--cot-port must be a port number 1..65535")
        spec = city.load_spec()
        agency = demo_agency(spec)
        if agency is None:
            raise CommandError(f"agency {spec.agency['code']} does not exist; run `manage.py load_demo_city` first")
        sources = demo_sources_ensure(agency=agency)
        if options["print_cot_source"]:
            self.stdout.write(str(sources[Stream.COT].pk))
            return
        world = demo_world_load(agency=agency, spec=spec)
        if not world.units:
            raise CommandError("the demo city has no units; run `manage.py load_demo_city --reset`")
        tokens = demo_tokens_issue(sources=sources)
        # From here on the simulator only talks HTTP and CoT: no connection held idle for hours (unless a
        # caller's transaction is using it, as in a test).
        if not connection.in_atomic_block:
            connection.close()

        streams = set(Stream)
        client = CotClient(options["cot_host"], options["cot_port"])
        cot = client if self._connect(client, options["cot_wait"]) else None
        if cot is None:
            self._say(
                f"Warning: no CoT listener on {options['cot_host']}:{options['cot_port']} "
                f"(start `manage.py cot_listen --source {sources[Stream.COT].pk} --tcp {options['cot_port']}`); "
                "every unit reports through OsmAnd instead."
            )
            streams.discard(Stream.COT)
        transport = HttpTransport(options["base_url"], tokens, cot=cot, out=self._say)
        sim = Simulator(
            spec=spec,
            world=world,
            start=timezone.now(),
            send=transport,
            seed=options["seed"],
            config=SimConfig(streams=frozenset(streams)),
            speed=speed,
        )
        cot_units = ", ".join(u.call_sign for u in sim.units.values() if u.transport == Stream.COT) or "none"
        self._say(
            f"Simulating {len(sim.units)} units ({cot_units} over CoT), {len(world.sites)} ALPR sites and "
            f"{len(world.open_calls)} open calls against {options['base_url']} at x{speed:g}"
            + (f" for {duration:g} s" if duration else "; Ctrl-C stops")
            + "."
        )
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            run(
                sim,
                clock=WallClock(),
                stop=stop,
                duration=duration,
                status=lambda: transport.status_line(sim),
                out=self._say,
                status_every=options["status_every"],
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            transport.close()
        self._say("Stopped.")

    @staticmethod
    def _connect(cot: CotClient, wait: float) -> bool:
        """Try the CoT listener for up to `wait` seconds: started alongside, it may not be listening yet."""
        deadline = time.monotonic() + wait
        while not cot.connect():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
