from django.db import models


class ZoneKind(models.TextChoices):
    BEAT = "beat", "Beat"
    SECTOR = "sector", "Sector"
    DISTRICT = "district", "District / precinct"
    GEOFENCE = "geofence", "Geofence"
    CITY = "city", "City limits"
