"""Base model pieces shared by every domain app."""

from django.db import models


class TimeStamped(models.Model):
    """Creation and update times for any record an operator may ask about later."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AgencyOwned(TimeStamped):
    """A record that belongs to one agency (tenant); selectors scope reads by it."""

    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True
