from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "apps.retention"
    label = "retention"

    def ready(self) -> None:
        from apps.core import dbroles

        # The purge's only way to delete audit rows (migration 0004): its own checks are the policy.
        dbroles.app_function("audit_purge_batch(integer)")
