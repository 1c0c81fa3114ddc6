from django.db import models


class SiteKind(models.TextChoices):
    FIXED = "fixed", "Fixed"
    MOBILE = "mobile", "Mobile (vehicle-mounted)"
