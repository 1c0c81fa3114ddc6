"""`manage.py migrate`, run as the owner role, then the app role's privileges re-applied.

The processes of the application connect as the app role, which may not change the schema; migrations need the
owner (DATABASE_OWNER_URL). This command swaps the connection's credentials for the owner's, migrates, grants the
app role what it needs (apps/core/dbroles.py), and puts the app credentials back. When the connection already is
the owner (the test harness creates its database as the owner), it only migrates and grants.
"""

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections, transaction

from apps.core import dbroles


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Runs as the owner role (DATABASE_OWNER_URL), then re-grants the app role."

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        owner = dbroles.owner_role_name()
        app_role = dbroles.app_role_name()
        saved = {key: connection.settings_dict.get(key) for key in ("USER", "PASSWORD")}
        swap = bool(owner) and saved["USER"] != owner
        if swap:
            connection.close()
            connection.settings_dict.update(dbroles.owner_credentials())
        try:
            super().handle(*args, **options)
            if owner and app_role and app_role != owner:
                with transaction.atomic(using=connection.alias), connection.cursor() as cur:
                    narrowed = dbroles.app_role_grant(cur, app_role=app_role)
                if options["verbosity"] >= 1:
                    narrow = f" ({', '.join(narrowed)}: narrower)" if narrowed else ""
                    self.stdout.write(f"Granted the app role {app_role} its privileges{narrow}.")
        finally:
            if swap:
                connection.close()
                connection.settings_dict.update(saved)
