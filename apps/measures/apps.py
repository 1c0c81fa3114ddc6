from django.apps import AppConfig
from django.core import checks


class MeasuresConfig(AppConfig):
    name = "apps.measures"
    label = "measures"

    def ready(self) -> None:
        checks.register(check_shifts)


def check_shifts(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A mistyped RTCC_SHIFTS fails `manage.py check` (and so start-up), not the first dashboard view."""
    from django.core.exceptions import ImproperlyConfigured

    from .shifts import configured_shifts

    try:
        configured_shifts()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="measures.E001")]
    return []
