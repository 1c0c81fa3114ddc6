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

    def __str__(self) -> str:
        return self.username
