"""Feed sources (configured in the database) and the records they sent that we could not use."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.core.models import AgencyOwned
from apps.units.choices import UnitIdMode

from .choices import FeedHealth, FeedMode

TOKEN_PREFIX = "rtcc_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FeedSource(AgencyOwned):
    """One source of live records: its format (`kind`, an adapter), how it reaches us, and its health.

    Push tokens are stored only as a SHA-256 hash; poll credentials are referenced by the name of an
    environment variable (`credentials_ref`), never stored here.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, help_text="adapter: cad_json, eido, gtfs_rt, cot, osmand, ...")
    mode = models.CharField(max_length=16, choices=FeedMode.choices, default=FeedMode.PUSH)
    url = models.URLField(max_length=500, blank=True, help_text="for polled sources")
    credentials_ref = models.CharField(
        max_length=100, blank=True, help_text="name of the environment variable holding the poll credentials"
    )
    poll_interval = models.PositiveIntegerField(default=30, help_text="seconds between polls")
    expected_interval = models.PositiveIntegerField(
        default=300, help_text="seconds of silence after which the source is flagged stale"
    )
    params = models.JSONField(default=dict, blank=True, help_text="adapter options, e.g. a CSV column mapping")
    auto_create_units = models.BooleanField(
        default=False, help_text="an AVL device we do not know becomes a new unit (else it is rejected)"
    )
    unit_ids = models.CharField(
        max_length=16,
        choices=UnitIdMode.choices,
        default=UnitIdMode.DEVICE,
        help_text="what the unit ids this source sends are: its own device ids (a shared label or another "
        "unit's call sign never matches), or our call signs",
    )
    enabled = models.BooleanField(default=True)
    token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    token_hint = models.CharField(
        max_length=16, blank=True, editable=False, help_text="first characters, to tell tokens apart"
    )
    accepted_count = models.BigIntegerField(default=0, editable=False)
    rejected_count = models.BigIntegerField(default=0, editable=False)
    units_created_count = models.BigIntegerField(default=0, editable=False)
    units_updated_count = models.BigIntegerField(default=0, editable=False)
    ambiguous_count = models.BigIntegerField(
        default=0, editable=False, help_text="records refused because their unit id named more than one unit"
    )
    ignored_count = models.BigIntegerField(
        default=0, editable=False, help_text="records deliberately not ingested (e.g. CoT pings), not errors"
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)
    misconfigured_reason = models.TextField(
        blank=True,
        editable=False,
        help_text="why the last payload was refused as the wrong kind for this source (cleared by a good one)",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["agency", "name"], name="feedsource_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        # A mapping that cannot work is refused when the source is saved, not on its first payload at night.
        from .adapters.base import PayloadError
        from .adapters.mapped import check_source_params

        try:
            check_source_params(kind=self.kind, params=self.params)
        except PayloadError as exc:
            raise ValidationError({"params": str(exc)}) from None

    def issue_token(self) -> str:
        """A new push token (shown once; only its hash is kept). Saves the source."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_hint = token[: len(TOKEN_PREFIX) + 6]
        self.save(update_fields=["token_hash", "token_hint", "updated_at"])
        return token

    @property
    def is_stale(self) -> bool:
        if not self.enabled:
            return False
        last = self.last_success_at or self.created_at
        return timezone.now() - last > timedelta(seconds=self.expected_interval)

    @property
    def health(self) -> str:
        """From what the source last sent: misconfigured (the wrong kind of payload, e.g. GTFS-RT trip
        updates on a vehicle source), failing (its last payload or poll failed), stale (silent for longer
        than expected), healthy; disabled when switched off."""
        if not self.enabled:
            return FeedHealth.DISABLED
        if self.misconfigured_reason:
            return FeedHealth.MISCONFIGURED
        if self.last_error_at and (self.last_success_at is None or self.last_error_at > self.last_success_at):
            return FeedHealth.FAILING
        if self.is_stale:
            return FeedHealth.STALE
        return FeedHealth.HEALTHY


class DeadLetter(models.Model):
    """A record (or a whole payload, index -1) a source sent that we refused, and why."""

    source = models.ForeignKey(FeedSource, on_delete=models.CASCADE, related_name="dead_letters")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    index = models.IntegerField(help_text="position in the payload; -1 for the whole payload")
    line = models.IntegerField(null=True, blank=True, help_text="first line of the record in a CSV payload")
    field = models.CharField(max_length=100, blank=True, help_text="the field the reason is about, if one")
    reason = models.TextField()
    raw = models.TextField(blank=True, help_text="excerpt of what was received")

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} #{self.index}: {self.reason[:60]}"
