from django.db import models


class OwnerKind(models.TextChoices):
    AGENCY = "agency", "Agency"
    PARTNER = "partner", "Partner (public body, business)"
    COMMUNITY = "community", "Community registry"


class CameraStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    UNKNOWN = "unknown", "Unknown"


class StreamKind(models.TextChoices):
    HLS = "hls", "HLS"
    MJPEG = "mjpeg", "MJPEG"
    SNAPSHOT = "snapshot", "Snapshot"
    RTSP = "rtsp", "RTSP"


class StreamDisplay(models.TextChoices):
    """Where an opened stream is shown: an operator's own screen, or the wall the whole room sees."""

    DOCK = "dock", "Operator's map (camera dock)"
    WALL = "wall", "Video wall"


class Sharing(models.TextChoices):
    LIVE = "live", "Live view allowed"
    ON_REQUEST = "on_request", "Recorded, on request only"
