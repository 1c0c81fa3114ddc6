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
