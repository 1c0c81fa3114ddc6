from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "apps.retention"
    label = "retention"

    def ready(self) -> None:
        from apps.core import dbroles

        # The purge's only way to delete audit rows (migration 0004): its own checks are the policy.
        dbroles.app_function("audit_purge_batch(integer)")
        dbroles.app_function("audit_purge_days()")
        # The audit period's floor (migration 0005) is the owner's: the app may read it, never lower it.
        dbroles.app_table_privileges("retention_auditfloor", ("SELECT",))
