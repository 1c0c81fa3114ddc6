from django.db import models


class IncidentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPATCHED = "dispatched", "Dispatched"
    ON_SCENE = "on_scene", "On scene"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (IncidentStatus.PENDING, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE)


class CallSource(models.TextChoices):
    """How the call reached the agency (CAD exports name it "call source", "origin" or "how received")."""

    E911 = "911", "911"
    PHONE = "phone", "Non-emergency phone"
    ONVIEW = "onview", "Officer-initiated (on view)"
    ALARM = "alarm", "Alarm"
    TEXT = "text", "Text / online"
    RADIO = "radio", "Radio"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"
