"""Two-factor authentication on django-otp: enrolled users keep their second factor through the move,
and no staff page shows a device's key."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.choices import Role
from apps.accounts.models import User
from apps.accounts.services import totp_device_verify

from . import factories as f
from .db_roles import as_owner


def _current_code(secret: str) -> str:
    return str(TOTP(f.totp_key(secret)).token()).zfill(6)


@pytest.mark.django_db(transaction=True)
def test_enrolled_users_keep_their_second_factor_through_the_migration():
    """accounts 0004 moves each User.totp_secret to a confirmed django-otp TOTPDevice with the same key:
    the code the user's app shows still signs them in, and the column is gone afterwards."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    with as_owner():  # migrations run as the owner role, as manage.py migrate does
        before = [("accounts", "0003_api_token")]
        after = [("accounts", "0005_remove_user_totp_secret")]
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        OldUser = old_apps.get_model("accounts", "User")
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        OldUser.objects.create(username="enrolled", totp_secret=secret, totp_confirmed_at=timezone.now())
        OldUser.objects.create(username="plain")
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        # Forward to every app's latest state, not only to `after`: going back to accounts 0003 also undid
        # the later accounts migrations (0006's service-area buffer), which the tests after this one need.
        executor.migrate([*after, *executor.loader.graph.leaf_nodes()])

        enrolled = User.objects.get(username="enrolled")
        [device] = TOTPDevice.objects.filter(user=enrolled)
        assert device.confirmed and device.bin_key == f.totp_key(secret)
        assert not TOTPDevice.objects.filter(user__username="plain").exists()
        assert totp_device_verify(user=enrolled, code=_current_code(secret))
        with connection.cursor() as cursor:
            columns = [c.name for c in connection.introspection.get_table_description(cursor, "accounts_user")]
        assert "totp_secret" not in columns


def test_staff_cannot_read_second_factor_keys_in_the_admin(client, home, operator):
    """django-otp's device admin would show every key (and its QR code) to staff: it is not registered."""
    f.totp_enrol(operator)
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
