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
    CLOSED = "closed", "Closed"  # issue 11: shared with the cap branch; the lead keeps one at merge


class AckOutcome(models.TextChoices):
    """What the operator found when acknowledging: was the alert real (a hotlist hit on the right car)?"""

    CONFIRMED = "confirmed", "Confirmed"
    FALSE_POSITIVE = "false_positive", "False positive"
    UNKNOWN = "unknown", "Unknown"
