from django.db import models


class UnitStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    DISPATCHED = "dispatched", "Dispatched"
    ON_SCENE = "on_scene", "On scene"
    OUT_OF_SERVICE = "out_of_service", "Out of service"


class UnitKind(models.TextChoices):
    PATROL = "patrol", "Patrol car"
    MOTOR = "motor", "Motorcycle"
    BIKE = "bike", "Bicycle"
    FOOT = "foot", "Foot patrol"
    K9 = "k9", "K9"
    SUPERVISOR = "supervisor", "Supervisor"
    AIR = "air", "Air support"
    OTHER = "other", "Other"


class UnitIdMode(models.TextChoices):
    """What a source's unit ids are, so a fix can be put on exactly one unit (apps.units.services.units_resolve)."""

    DEVICE = "device", "Device / vehicle ids of the source (never matched to call signs)"
    CALL_SIGN = "call_sign", "Our call signs (the agency's own AVL/CAD), or a unit's configured device id"
