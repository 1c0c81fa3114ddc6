from django.db import models


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator"
    WATCH_COMMANDER = "watch_commander", "Watch commander"
    PLANNER = "planner", "Planner / analyst"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    AUDITOR = "auditor", "Auditor"
    PARTNER = "partner", "Partner-agency user"
