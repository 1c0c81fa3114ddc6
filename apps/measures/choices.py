from django.db import models


class AssistKind(models.TextChoices):
    """How the RTCC helped with an incident. NO_ASSIST records that the center looked and could not
    help: it counts as engagement (the center was working the call), not as an assist."""

    CAMERA_SUSPECT = "camera_suspect", "Camera located suspect"
    CAMERA_VEHICLE = "camera_vehicle", "Camera located vehicle"
    UNITS_REDIRECTED = "units_redirected", "Units redirected"
    DETECTIVE_LEAD = "detective_lead", "Lead to detectives"
    HOTLIST_HIT = "hotlist_hit", "BOLO / hotlist hit"
    REALTIME_INFO = "realtime_info", "Real-time info to responding units"
    OTHER = "other", "Other assistance"
    NO_ASSIST = "no_assist", "No assist possible"


class Bucket(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
