"""Agencies (tenants) and the people who use the center, each with one role; their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from .choices import Role


class Agency(models.Model):
    """A law-enforcement agency (tenant). `code` is its ORI or a short unique code."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="America/Los_Angeles")
    # Records may be within this distance outside the union of the agency's zones (mutual aid, a beat
    # drawn a little short); further out they are refused or flagged at intake (apps.zones.area).
    service_area_buffer_m = models.PositiveIntegerField(
        default=2000, help_text="metres around the agency's zones that still count as its service area"
    )

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class User(AbstractUser):
    """A person who signs in; what they may do follows from `role`, what they may see from `agency`."""

    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    # When two-factor authentication was turned on (None: off). The key is on the user's django-otp
    # TOTPDevice; this stamp is what the admin lists and the audit trail records.
    totp_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.username


class AgencySharing(models.Model):
    """`owner` lets `partner`'s users see the listed layers of its records, optionally only within
    a time window (a joint operation, a mutual-aid weekend). Sharing is one-way."""

    owner = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="shares_given")
    partner = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="shares_received")
    layers = models.JSONField(default=list, help_text='layer names, e.g. ["incidents", "units"]')
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "partner"], name="agencysharing_one_rule_per_pair"),
            models.CheckConstraint(condition=~models.Q(owner=models.F("partner")), name="agencysharing_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.owner.code} -> {self.partner.code}: {', '.join(self.layers)}"


API_TOKEN_PREFIX = "rtccapi_"
# Writing last_used_at on every request would turn each API read into a write; a minute is precise
# enough to tell a live integration from an abandoned one.
API_TOKEN_TOUCH_SECONDS = 60


def hash_api_token(key: str) -> str:
    """SHA-256 of a key, as feed push tokens are stored: the key itself is never kept. A plain fast
    hash is enough because keys are 256 random bits, not something a person chose."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenManager(models.Manager["ApiToken"]):
    def issue(self, *, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
        """A new token for `user`; returns it with its key, which exists only in this return value."""
        if days is not None and days <= 0:
            raise ValueError("days must be a positive number of days")
        token = self.model(user=user, name=name, expires_at=timezone.now() + timedelta(days=days) if days else None)
        key = token.set_new_key()
        token.save(force_insert=True)
        return token, key


class ApiToken(models.Model):
    """A key an integration (GIS desktop, reporting job) presents as `Authorization: Token <key>` to
    act as `user`, with exactly that user's role and agency. Only the key's SHA-256 is stored; it
    is shown once when issued. Revoking keeps the row so the audit trail can still name the token."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text='what uses it, e.g. "ArcGIS Pro - crime analysis"')
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False, help_text="first characters, to tell keys apart")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: does not expire")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…, {self.user})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def set_new_key(self) -> str:
        """Give this (unsaved) token a fresh key and return it; only its hash and hint are kept."""
        key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.token_hash = hash_api_token(key)
        self.hint = key[: len(API_TOKEN_PREFIX) + 6]
        return key

    def revoke(self) -> None:
        """Stop the key working from now on; revoking twice keeps the first time."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self) -> None:
        """Record use, at most once per API_TOKEN_TOUCH_SECONDS. The condition is in the UPDATE so
        concurrent requests do not all write."""
        now = timezone.now()
        stale = now - timedelta(seconds=API_TOKEN_TOUCH_SECONDS)
        updated = (
            ApiToken.objects.filter(pk=self.pk)
            .filter(models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=stale))
            .update(last_used_at=now)
        )
        if updated:
            self.last_used_at = now
