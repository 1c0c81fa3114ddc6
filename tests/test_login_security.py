"""Sign-in hardening: lockout, TOTP two-factor authentication (django-otp), API tokens, password strength."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.contrib import admin as django_admin
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts import lockout
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken, User, hash_api_token
from apps.accounts.services import totp_device_verify, totp_new_key, totp_provisioning_uri

from . import factories as f

# The accounts routes as the lead includes them (before the map's routes), so these tests do not
# depend on rtcc_gis/urls.py having been edited yet.
urlpatterns = [path("", include("apps.accounts.urls")), path("", include("rtcc_gis.urls"))]
pytestmark = pytest.mark.urls(__name__)

LOGIN = "/accounts/login/"
VERIFY = "/accounts/login/verify/"
SETUP = "/accounts/2fa/setup/"
DISABLE = "/accounts/2fa/disable/"
WRONG = "not-the-password-at-all"


@pytest.fixture(autouse=True)
def private_cache(settings):
    """Each test gets its own cache key prefix on the real Redis: no counters leak between tests,
    and a demo running on the same Redis is neither locked out by nor locks out these tests."""
    prefix = f"rtcc-test-login-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    # Hashing is not under test here and the default hasher costs ~0.3 s per attempt.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RTCC_LOGIN_MAX_FAILURES = 3
    settings.RTCC_LOGIN_WINDOW_SECONDS = 900
    settings.RTCC_LOGIN_LOCKOUT_SECONDS = 900
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


def _login(client: Client, username: str, password: str, **extra) -> object:
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _code_at(secret: str, at: float) -> str:
    check = TOTP(f.totp_key(secret))
    check.time = at
    return str(check.token()).zfill(6)


def _current_code(secret: str) -> str:
    return _code_at(secret, time.time())


def _matches_now(secret: str, code: str) -> bool:
    """Whether `code` is within the tolerance right now (ignoring whether it was used)."""
    return TOTP(f.totp_key(secret)).verify(int(code), tolerance=TOTPDevice().tolerance)


def _wrong_code(secret: str) -> str:
    """A well-formed code that matches no step within the tolerance right now."""
    return next(c for c in ("000000", "111111", "222222", "333333") if not _matches_now(secret, c))


def _device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user).first()


# ---------------------------------------------------------------- lockout


def test_username_locked_after_n_failures_without_revealing_the_password(client, operator):
    for _ in range(2):
        response = _login(client, "operator", WRONG)
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    # The Nth failure locks.
    response = _login(client, "operator", WRONG)
    locked_wrong = response.content.decode()
    assert "Too many failed sign-in attempts" in locked_wrong
    # While locked, the right password gets exactly the same answer as a wrong one.
    response = _login(client, "operator", f.PASSWORD)
    assert response.status_code == 200
    assert not _signed_in(client)
    locked_right = response.content.decode()
    assert "Too many failed sign-in attempts" in locked_right
    assert "correct username and password" not in locked_right

    def error_box(html: str) -> str:
        return html.split('class="login-error"', 1)[1].split("</div>", 1)[0]

    assert error_box(locked_wrong) == error_box(locked_right)
    # Another account from another address is unaffected.
    other = f.user(agency=operator.agency, role=Role.OPERATOR, username="second")
    response = _login(Client(REMOTE_ADDR="10.0.0.9"), other.username, f.PASSWORD)
    assert response.status_code == 302


def test_unknown_username_locks_the_same_way(client, home):
    # Locking only existing accounts would tell an attacker which usernames exist.
    for _ in range(3):
        _login(client, "nobody-here", WRONG)
    assert lockout.is_locked("nobody-here", "127.0.0.1")
    assert "Too many failed sign-in attempts" in _login(client, "nobody-here", WRONG).content.decode()


def test_ip_locked_after_four_times_n_failures_across_usernames(home, operator):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for i in range(4 * 3):
        # One miss per made-up username: no username reaches its own threshold.
        _login(attacker, f"guess{i}", WRONG)
    assert not lockout.is_locked("guess0", "198.51.100.1")
    response = _login(attacker, "operator", f.PASSWORD)
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert not _signed_in(attacker)
    # The same account from elsewhere still works: it was the address that was locked.
    elsewhere = Client(REMOTE_ADDR="198.51.100.1")
    assert _login(elsewhere, "operator", f.PASSWORD).status_code == 302
    assert _signed_in(elsewhere)


def test_lock_lifts_after_the_lockout_time(client, operator, monkeypatch):
    for _ in range(3):
        _login(client, "operator", WRONG)
    assert not _signed_in(client) and lockout.is_locked("operator", "127.0.0.1")
    real_now = lockout._now
    monkeypatch.setattr(lockout, "_now", lambda: real_now() + 901)
    response = _login(client, "operator", f.PASSWORD)
    assert response.status_code == 302
    assert _signed_in(client)


def test_lock_expires_in_the_cache_too(client, operator, settings):
    # Real time, short settings: the cache entry itself goes away, nothing is left behind.
    settings.RTCC_LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(3):
        _login(client, "operator", WRONG)
    assert lockout.is_locked("operator", "127.0.0.1")
    time.sleep(2.1)
    assert not lockout.is_locked("operator", "127.0.0.1")
    assert _login(client, "operator", f.PASSWORD).status_code == 302


def test_failures_outside_the_window_are_forgotten(settings):
    settings.RTCC_LOGIN_WINDOW_SECONDS = 1
    for _ in range(2):
        assert not lockout.record_failure("operator", "192.0.2.1")
    time.sleep(2.1)
    for _ in range(2):
        assert not lockout.record_failure("operator", "192.0.2.1")
    assert not lockout.is_locked("operator", "192.0.2.1")
    assert lockout.failure_count("operator") == 2


def test_success_clears_the_username_counter_but_not_the_address_counter(client, operator, settings):
    for _ in range(2):
        _login(client, "operator", WRONG)
    assert lockout.failure_count("operator") == 2
    assert _login(client, "operator", f.PASSWORD).status_code == 302
    assert lockout.failure_count("operator") == 0
    client.logout()
    for _ in range(2):
        _login(client, "operator", WRONG)
    assert not lockout.is_locked("operator", "127.0.0.1")
    # The address keeps its count: one valid account must not wash out guesses at others.
    for _ in range(8):
        _login(client, f"other{_}", WRONG)
    assert lockout.is_locked(None, "127.0.0.1")


def test_refusals_reach_user_login_failed_receivers(client, operator):
    """The audit trail listens to user_login_failed; locked attempts never call authenticate(), so
    they are signalled explicitly, with a reason and without the password."""
    seen: list[dict] = []

    def receiver(sender, credentials, request=None, **kwargs):
        seen.append({"credentials": credentials, "reason": kwargs.get("reason")})

    user_login_failed.connect(receiver)
    try:
        for _ in range(4):
            _login(client, "operator", f.PASSWORD if _ == 3 else WRONG)
    finally:
        user_login_failed.disconnect(receiver)
    assert [s["reason"] for s in seen] == [None, None, None, "locked"]
    assert all(f.PASSWORD not in str(s["credentials"]) and WRONG not in str(s["credentials"]) for s in seen)


def test_missing_password_is_not_counted(client, operator):
    for _ in range(5):
        client.post(LOGIN, {"username": "operator", "password": ""})
    assert lockout.failure_count("operator") == 0


# ---------------------------------------------------------------- TOTP known answers (django-otp's, as configured)

RFC6238_SEED = b"12345678901234567890"
# RFC 6238 appendix B, SHA-1 (what authenticator apps and our devices use): (time, 8-digit TOTP).
RFC6238_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("at", "expected"), RFC6238_VECTORS)
def test_rfc6238_appendix_b(at, expected):
    for digits in (8, 6):  # our 6-digit codes are the same truncation modulo 10^6
        check = TOTP(RFC6238_SEED, digits=digits)
        check.time = at
        assert str(check.token()).zfill(digits) == expected[-digits:]


def test_rfc4226_appendix_d_hotp():
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [str(hotp(RFC6238_SEED, i)).zfill(6) for i in range(10)] == expected


def test_code_accepted_one_step_either_side_only(settings):
    device = TOTPDevice()
    assert (device.step, device.digits, device.tolerance) == (30, 6, 1)
    assert settings.OTP_TOTP_SYNC is False  # the window does not wander after a late code
    secret = totp_new_key()
    now = 1_700_000_015.0
    for offset, ok in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        check = TOTP(f.totp_key(secret))
        check.time = now
        assert check.verify(int(_code_at(secret, now + offset)), tolerance=device.tolerance) is ok, offset


def test_secret_and_uri_format(operator):
    secret = totp_new_key()
    assert len(f.totp_key(secret)) == 20 and "=" not in secret
    operator.username = "op erator"
    uri = totp_provisioning_uri(user=operator, secret_b32=secret)
    assert uri.startswith("otpauth://totp/RTCC%3Aop%20erator?")
    assert f"secret={secret}" in uri and "issuer=RTCC" in uri and "digits=6" in uri and "period=30" in uri


def test_verify_refuses_a_replayed_code(operator):
    secret = f.totp_enrol(operator)
    code = _current_code(secret)
    assert totp_device_verify(user=operator, code=code)
    assert not totp_device_verify(user=operator, code=code)
    assert not totp_device_verify(user=operator, code="12345")
    assert not totp_device_verify(user=operator, code="abcdef")


# ---------------------------------------------------------------- 2FA end to end


def test_enrolment_then_two_step_login(client, operator):
    client.force_login(operator)
    page = client.get(SETUP)
    html = page.content.decode()
    secret = client.session["rtcc_2fa_enrol_secret"]
    assert page.status_code == 200
    assert "otpauth://totp/RTCC%3Aoperator?secret=" + secret in html.replace("&amp;", "&")
    # The key is text only: no QR image (the one <img> is the logo), nothing from another host.
    assert html.count("<img") == 1
    assert "https://" not in html and "http://" not in html

    # A wrong code does not enable anything.
    response = client.post(SETUP, {"code": _wrong_code(secret)})
    assert "does not match" in response.content.decode()
    operator.refresh_from_db()
    assert operator.totp_confirmed_at is None and _device(operator) is None

    code = _current_code(secret)
    response = client.post(SETUP, {"code": code})
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.totp_confirmed_at is not None
    assert _device(operator).confirmed and _device(operator).bin_key == f.totp_key(secret)

    # Now signing in takes two steps.
    client.logout()
    browser = Client()
    response = _login(browser, "operator", f.PASSWORD)
    assert response.status_code == 302 and response["Location"] == VERIFY
    # Between the steps the session is not signed in: not the map, not the API.
    assert not _signed_in(browser)
    assert browser.get("/")["Location"].startswith(LOGIN)
    assert browser.get("/api/incidents/").status_code == 401
    response = browser.get(VERIFY)
    assert response.status_code == 200 and "operator" in response.content.decode()

    # The code that confirmed enrolment is spent: it is refused as a replay.
    response = browser.post(VERIFY, {"code": code})
    assert response.status_code == 200 and "already used" in response.content.decode()
    assert not _signed_in(browser)


def test_two_step_login_goes_to_next_after_a_fresh_code(operator):
    secret = f.totp_enrol(operator)
    browser = Client()
    response = browser.post(f"{LOGIN}?next=/api/zones/", {"username": "operator", "password": f.PASSWORD})
    assert response["Location"] == VERIFY
    response = browser.post(VERIFY, {"code": "12 34 5"})
    assert "6-digit" in response.content.decode()
    response = browser.post(VERIFY, {"code": _current_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/api/zones/"
    assert _signed_in(browser)
    assert int(browser.session["_auth_user_id"]) == operator.pk
    assert "rtcc_2fa_pending" not in browser.session
    assert lockout.failure_count("operator") == 0


def test_replayed_code_refused_at_sign_in(operator):
    secret = f.totp_enrol(operator)
    first = Client()
    _login(first, "operator", f.PASSWORD)
    code = _current_code(secret)
    assert first.post(VERIFY, {"code": code}).status_code == 302
    # Someone who saw the code (shoulder, proxy log) and knows the password, same 30 s window.
    second = Client()
    _login(second, "operator", f.PASSWORD)
    response = second.post(VERIFY, {"code": code})
    assert response.status_code == 200 and "already used" in response.content.decode()
    assert not _signed_in(second)


def test_wrong_codes_count_towards_the_lockout(operator):
    secret = f.totp_enrol(operator)
    good = _current_code(secret)
    wrong = _wrong_code(secret)
    browser = Client()
    _login(browser, "operator", f.PASSWORD)
    assert "Wrong or already used code" in browser.post(VERIFY, {"code": wrong}).content.decode()
    browser.post(VERIFY, {"code": wrong})
    response = browser.post(VERIFY, {"code": wrong})
    # The third miss locks: the half-done sign-in is dropped and even the good code is refused.
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert not _signed_in(browser) and "rtcc_2fa_pending" not in browser.session
    assert browser.get(VERIFY)["Location"] == LOGIN
    assert "Too many failed sign-in attempts" in _login(browser, "operator", f.PASSWORD).content.decode()
    assert "rtcc_2fa_pending" not in browser.session
    assert _matches_now(secret, good)  # it was the lock, not the code


def test_pending_sign_in_expires(operator, settings):
    secret = f.totp_enrol(operator)
    settings.RTCC_LOGIN_2FA_PENDING_SECONDS = 0
    browser = Client()
    _login(browser, "operator", f.PASSWORD)
    time.sleep(0.01)
    response = browser.post(VERIFY, {"code": _current_code(secret)})
    assert response["Location"] == LOGIN
    assert not _signed_in(browser)
    assert "took too long" in browser.get(LOGIN).content.decode()


def test_verify_without_password_step_goes_to_login(client, db):
    assert client.get(VERIFY)["Location"] == LOGIN
    assert client.post(VERIFY, {"code": "123456"})["Location"] == LOGIN


def test_disabling_2fa_needs_a_current_code(client, operator):
    secret = f.totp_enrol(operator)
    client.force_login(operator)
    page = client.get(SETUP).content.decode()
    assert "is <strong>on</strong>" in page
    wrong = _wrong_code(secret)
    client.post(DISABLE, {"disable-code": wrong})
    operator.refresh_from_db()
    assert operator.totp_confirmed_at is not None
    assert lockout.failure_count("operator") == 1
    client.post(DISABLE, {"disable-code": _current_code(secret)})
    operator.refresh_from_db()
    assert operator.totp_confirmed_at is None and _device(operator) is None


def test_staff_without_2fa_are_reminded(client, home):
    staff = f.user(agency=home, role=Role.AGENCY_ADMIN, username="chief", is_staff=True)
    response = _login(client, "chief", f.PASSWORD)
    # Signed in, but shown the enrolment page first, with a way to skip.
    assert _signed_in(client)
    assert response["Location"].startswith(SETUP + "?next=")
    page = client.get(response["Location"]).content.decode()
    assert "staff rights and no second factor" in page
    assert "Not now, continue" in page
    assert staff.totp_confirmed_at is None


def test_2fa_mandatory_for_staff_when_configured(home, settings):
    settings.RTCC_REQUIRE_2FA_FOR_STAFF = True
    f.user(agency=home, role=Role.AGENCY_ADMIN, username="chief", is_staff=True)
    browser = Client()
    response = _login(browser, "chief", f.PASSWORD)
    assert response["Location"] == SETUP
    # Not signed in until enrolled, and no way around it.
    assert not _signed_in(browser)
    page = browser.get(SETUP).content.decode()
    assert "Not now" not in page
    assert browser.get("/")["Location"].startswith(LOGIN)
    secret = browser.session["rtcc_2fa_enrol_secret"]
    response = browser.post(SETUP, {"code": _current_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert _signed_in(browser)
    chief = User.objects.get(username="chief")
    assert chief.totp_confirmed_at is not None
    # And it cannot be turned off again.
    browser.post(DISABLE, {"disable-code": _code_at(secret, time.time() + 30)})
    chief.refresh_from_db()
    assert chief.totp_confirmed_at is not None


def test_non_staff_are_not_forced_when_staff_2fa_is_mandatory(client, operator, settings):
    settings.RTCC_REQUIRE_2FA_FOR_STAFF = True
    response = _login(client, "operator", f.PASSWORD)
    assert response["Location"] == "/" and _signed_in(client)


def test_admin_login_goes_through_the_hardened_login(client, operator):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == f"{LOGIN}?next=%2Fadmin%2F"
    # A signed-in non-staff user is told no, rather than bounced between the two login pages.
    client.force_login(operator)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


def test_admin_resets_a_lost_second_factor(client, home, operator):
    f.totp_enrol(operator)
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/accounts/user/", {"action": "reset_2fa", "_selected_action": [operator.pk]})
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.totp_confirmed_at is None and _device(operator) is None


def test_admin_resets_a_device_whatever_the_stamp_says(client, rf, home, operator):
    """The second factor is the device sign-in checks, not the totp_confirmed_at mirror: a device without
    the stamp is listed as 2FA on and reset like any other."""
    f.totp_enrol(operator)
    User.objects.filter(pk=operator.pk).update(totp_confirmed_at=None)
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    user_admin = django_admin.site._registry[User]
    request = rf.get("/admin/accounts/user/")
    request.user = admin
    assert user_admin.has_2fa(user_admin.get_queryset(request).get(pk=operator.pk)) is True
    response = client.post("/admin/accounts/user/", {"action": "reset_2fa", "_selected_action": [operator.pk]})
    assert response.status_code == 302
    assert _device(operator) is None


# ---------------------------------------------------------------- API tokens


def _create_token(username: str, *extra: str) -> tuple[ApiToken, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "create", username, "--name", "reporting job", *extra, stdout=out, stderr=err)
    key = out.getvalue().strip()
    return ApiToken.objects.get(token_hash=hash_api_token(key)), key


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_created_by_command_is_stored_only_hashed(operator):
    token, key = _create_token("operator", "--days", "30")
    assert key.startswith("rtccapi_") and len(key) > 40
    assert token.token_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(token.hint) and len(token.hint) < 16
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(key not in str(value) for value in stored.values())
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert "reporting job" in listing.getvalue() and key not in listing.getvalue()


def test_token_authenticates_as_its_user(operator, home):
    f.incident(agency=home)
    token, key = _create_token("operator")
    response = _api(key).get("/api/incidents/")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    # Used again within the minute: no write.
    _api(key).get("/api/incidents/")
    token.refresh_from_db()
    assert token.last_used_at == first_use
    # After a minute it is written again.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(seconds=61))
    _api(key).get("/api/incidents/")
    token.refresh_from_db()
    assert token.last_used_at > first_use - timedelta(seconds=61)


def test_token_has_its_users_role(planner, operator, home):
    f.alpr_read(agency=home, plate="ABC123")
    _, planner_key = _create_token("planner")
    _, operator_key = _create_token("operator")
    url = "/api/alpr/reads/?plate=ABC*&reason=case-42"
    # A planner may view layers but not search plates, with a session or with a token alike.
    assert _api(planner_key).get("/api/incidents/").status_code == 200
    response = _api(planner_key).get(url)
    assert response.status_code == 403
    response = _api(operator_key).get(url)
    assert response.status_code == 200 and response.json()["count"] == 1


def test_revoked_token_is_refused_with_the_reason(operator):
    token, key = _create_token("operator")
    assert _api(key).get("/api/incidents/").status_code == 200
    out = io.StringIO()
    call_command("api_token", "revoke", str(token.pk), stdout=out)
    assert "revoked" in out.getvalue()
    response = _api(key).get("/api/incidents/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Token revoked."
    assert response["WWW-Authenticate"].startswith("Token")


def test_expired_token_is_refused(operator):
    token, key = _create_token("operator", "--days", "1")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _api(key).get("/api/incidents/")
    assert response.status_code == 401 and response.json()["detail"] == "Token expired."


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Token rtccapi_made-up-key", "Unknown token."),
        ("Token", "Malformed Authorization header: expected 'Token <key>'."),
        ("Token a b", "Malformed Authorization header: expected 'Token <key>'."),
    ],
)
def test_bad_token_headers_get_401_with_reason(db, header, reason):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/incidents/")
    assert response.status_code == 401
    assert response.json()["detail"] == reason


def test_token_of_an_inactive_user_is_refused(operator):
    _, key = _create_token("operator")
    operator.is_active = False
    operator.save()
    response = _api(key).get("/api/incidents/")
    assert response.status_code == 401 and "inactive" in response.json()["detail"]


def test_admin_issues_and_revokes_tokens(client, home, operator):
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": operator.pk, "name": "ArcGIS Pro", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(name="ArcGIS Pro")
    # The key is shown once, in the message on the next page; it works, and it is not stored.
    page = client.get(response["Location"]).content.decode()
    key = page.split("key ", 1)[1].split(" ", 1)[0]
    assert hash_api_token(key) == token.token_hash and token.user == operator
    assert _api(key).get("/api/incidents/").status_code == 200
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _api(key).get("/api/incidents/").status_code == 401


def test_session_auth_still_works_without_a_token_header(operator_client):
    assert operator_client.get("/api/incidents/").status_code == 200


# ---------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Sh0rt!pw", "password_too_short"),
        ("123456789012345", "password_entirely_numeric"),
        ("password1234", "password_too_common"),
        ("operator-rtcc", "password_too_similar"),
    ],
)
def test_weak_passwords_are_refused(operator, password, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_password(password, user=operator)
    assert code in [e.code for e in excinfo.value.error_list]
    form = SetPasswordForm(operator, {"new_password1": password, "new_password2": password})
    assert not form.is_valid()


def test_strong_password_is_accepted(operator):
    form = SetPasswordForm(
        operator, {"new_password1": "tram-ledger-quartz-91", "new_password2": "tram-ledger-quartz-91"}
    )
    assert form.is_valid(), form.errors
