from django.db import models


class AlertKind(models.TextChoices):
    HOTLIST_HIT = "hotlist_hit", "Hotlist hit"
    GUNSHOT = "gunshot", "Gunshot detection"
    PANIC = "panic", "Panic button"
    SENSOR = "sensor", "Sensor"
    OTHER = "other", "Other"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    # Ended without an operator: the source cancelled it, or it expired (close_reason says which).
    CLOSED = "closed", "Closed"


# An alert still in an operator's hands: the statuses a source may close (alert_close).
ALERT_LIVE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class AckOutcome(models.TextChoices):
    """What the operator found when acknowledging: was the alert real (a hotlist hit on the right car)?"""

    CONFIRMED = "confirmed", "Confirmed"
    FALSE_POSITIVE = "false_positive", "False positive"
    UNKNOWN = "unknown", "Unknown"


class GunshotKind(models.TextChoices):
    """ShotSpotter's incident types (DC and Chicago open data spell them with spaces or underscores)."""

    SINGLE = "single", "Single Gunshot"
    MULTIPLE = "multiple", "Multiple Gunshots"
    POSSIBLE = "possible", "Gunshot or Firecracker"
    PROBABLE = "probable", "Probable Gunfire"
