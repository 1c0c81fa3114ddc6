from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from apps.core import dbroles

        # The app role may add to the trail and read it, nothing else: no UPDATE, DELETE or TRUNCATE, whatever
        # code asks (the retention purge goes through its own SECURITY DEFINER function).
        dbroles.app_table_privileges("audit_auditevent", ("SELECT", "INSERT"))
        # The purge ledger is written only by the purge function (retention migration 0005): the app reads it.
        dbroles.app_table_privileges("audit_auditpurge", ("SELECT",))
