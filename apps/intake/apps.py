from django.apps import AppConfig


class IntakeConfig(AppConfig):
    """Bringing outside data in: file readers, the one mapping format, validation and the rejection report."""

    name = "apps.intake"
    label = "intake"
