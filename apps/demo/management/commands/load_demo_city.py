"""`manage.py load_demo_city`: the simulated Seattle that `make demo` shows."""

from __future__ import annotations

import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.demo.services import DEFAULT_PASSWORD, demo_city_load


class Command(BaseCommand):
    help = (
        "Load the simulated demo city (agency DEMO): zones, one user per role, cameras, units, ALPR, "
        "sensors and a year of incidents. Does nothing but refresh the demo users' password if it is "
        "already loaded, unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same city")
        parser.add_argument("--incidents", type=int, default=20000, help="historical incidents over the past year")
        parser.add_argument("--reset", action="store_true", help="delete the demo agency's data and load it again")
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD,
            help="password for the demo users (default: $DEMO_PASSWORD, else the documented demo password)",
        )

    def handle(self, *args, seed: int, incidents: int, reset: bool, password: str, **options) -> None:
        if incidents < 0:
            raise CommandError("--incidents must be zero or more")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError("--password is too weak: " + " ".join(exc.messages)) from exc
        demo_city_load(seed=seed, incidents=incidents, reset=reset, stdout=self.stdout, password=password)
