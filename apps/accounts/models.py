"""Agencies (tenants) and the people who use the center, each with one role."""
from django.contrib.auth.models import AbstractUser
from django.db import models

from .choices import Role


class Agency(models.Model):
    """A law-enforcement agency (tenant). `code` is its ORI or a short unique code."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="America/Los_Angeles")

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class User(AbstractUser):
    """A person who signs in; what they may do follows from `role`, what they may see from `agency`."""

    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    totp_secret = models.CharField(max_length=64, blank=True, editable=False, help_text="base32 TOTP key (2FA)")
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
