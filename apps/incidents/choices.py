from django.db import models


class IncidentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPATCHED = "dispatched", "Dispatched"
    ON_SCENE = "on_scene", "On scene"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (IncidentStatus.PENDING, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE)
