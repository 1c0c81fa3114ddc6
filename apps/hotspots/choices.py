from django.db import models


class RunKind(models.TextChoices):
    KDE = "kde", "Kernel density heat surface"
    GISTAR = "gistar", "Getis-Ord Gi* on an H3 grid"
    COMPARE = "compare", "Two periods compared per H3 cell"
    GAPS = "gaps", "Significant hot cells no camera covers"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class HotClass(models.TextChoices):
    """Gi* classes as ArcGIS and PySAL users read them: sign of z, confidence of a two-sided test."""

    HOT_99 = "hot99", "Hot spot, 99% confidence"
    HOT_95 = "hot95", "Hot spot, 95% confidence"
    HOT_90 = "hot90", "Hot spot, 90% confidence"
    NONE = "none", "Not significant"
    COLD_90 = "cold90", "Cold spot, 90% confidence"
    COLD_95 = "cold95", "Cold spot, 95% confidence"
    COLD_99 = "cold99", "Cold spot, 99% confidence"
