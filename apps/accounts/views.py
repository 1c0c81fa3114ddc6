"""Sign-in with lockout and optional TOTP two-factor authentication.

The second factor is a django-otp TOTP device (apps.accounts.services.totp_device_*).

Flow: the password step (LoginView) either signs the user in, or, when the user has 2FA, stores
only a *pending* user id in the session and sends them to the code step (LoginVerifyView); the
session is authenticated (django.contrib.auth.login) only after the code checks out. Staff who
must have 2FA (RTCC_REQUIRE_2FA_FOR_STAFF) but have none are sent, still unauthenticated, to
enrolment instead, and signed in when their first code is confirmed.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from . import lockout
from .forms import LockoutAuthenticationForm, TotpCodeForm, locked_message, signal_refused
from .models import User
from .selectors import has_2fa
from .services import (
    totp_device_confirm,
    totp_device_remove,
    totp_device_verify,
    totp_new_key,
    totp_provisioning_uri,
)

PENDING_KEY = "rtcc_2fa_pending"
ENROL_SECRET_KEY = "rtcc_2fa_enrol_secret"
ENROL_TIME_FACTOR = 3


class Pending(TypedDict):
    """What the session holds between the password step and the code (or enrolment) step."""

    user_id: int
    backend: str
    next: str
    started: float
    enrol: bool


def pending_seconds() -> int:
    """How long a password-verified but not yet code-verified sign-in may wait for its code."""
    return int(getattr(settings, "RTCC_LOGIN_2FA_PENDING_SECONDS", 300))


def require_2fa_for_staff() -> bool:
    return bool(getattr(settings, "RTCC_REQUIRE_2FA_FOR_STAFF", False))


def is_privileged(user: User) -> bool:
    return bool(user.is_staff or user.is_superuser)


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _begin_pending(request: HttpRequest, user: User, *, next_url: str, enrol: bool) -> None:
    # A new session key for the half-signed-in state, so an id planted before the password step
    # (session fixation) does not carry the pending user.
    request.session.cycle_key()
    request.session[PENDING_KEY] = Pending(
        user_id=user.pk, backend=user.backend, next=next_url, started=time.time(), enrol=enrol
    )


def _pending(request: HttpRequest) -> tuple[Pending, User] | None:
    """The pending sign-in and its user, if there is one that has not expired."""
    data: Pending | None = request.session.get(PENDING_KEY)
    if not data:
        return None
    # Enrolling may mean installing an authenticator app first, so it gets longer than typing a code.
    limit = pending_seconds() * (ENROL_TIME_FACTOR if data["enrol"] else 1)
    if time.time() - float(data["started"]) > limit:
        _clear_pending(request)
        messages.warning(request, "The sign-in took too long. Please sign in again.")
        return None
    user = User.objects.filter(pk=data["user_id"], is_active=True).first()
    if user is None:
        _clear_pending(request)
        return None
    return data, user


def _clear_pending(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY, None)
    request.session.pop(ENROL_SECRET_KEY, None)


def _complete_login(request: HttpRequest, user: User, *, backend: str, next_url: str) -> HttpResponse:
    """The one place a browser session becomes authenticated."""
    _clear_pending(request)
    # Before the session is signed in: with the lockout store down this raises (503) and nobody is
    # left signed in behind an error page.
    lockout.record_success(user.get_username())
    auth_login(request, user, backend=backend)
    if is_privileged(user) and not has_2fa(user):
        # Staff without a second factor land on the enrolment page first, as a reminder they can
        # skip (unless RTCC_REQUIRE_2FA_FOR_STAFF, in which case they never got here).
        return redirect(f"{reverse('totp_setup')}?{urlencode({'next': next_url})}")
    return HttpResponseRedirect(next_url)


class LoginView(auth_views.LoginView):
    """The password step, with per-username and per-address lockout (apps.accounts.lockout)."""

    form_class = LockoutAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: LockoutAuthenticationForm) -> HttpResponse:
        user: User = form.get_user()
        next_url = self.get_success_url()
        if has_2fa(user):
            _begin_pending(self.request, user, next_url=next_url, enrol=False)
            return redirect("login_verify")
        if is_privileged(user) and require_2fa_for_staff():
            _begin_pending(self.request, user, next_url=next_url, enrol=True)
            messages.warning(self.request, "Staff accounts need two-factor authentication. Set it up to continue.")
            return redirect("totp_setup")
        return _complete_login(self.request, user, backend=user.backend, next_url=next_url)


@method_decorator([sensitive_post_parameters("code"), never_cache], name="dispatch")
class LoginVerifyView(View):
    """The code step: the session is signed in only when a fresh, unused code for the pending user
    arrives. Wrong codes count against the same lockout as wrong passwords."""

    template_name = "accounts/login_verify.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        found = _pending(request)
        if found is None or found[0]["enrol"]:
            return redirect("login")
        self.pending, self.user = found
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(TotpCodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TotpCodeForm(request.POST)
        if not form.is_valid():
            return self._render(form)
        username = self.user.get_username()
        ip = lockout.client_ip(request)
        if lockout.is_locked(username, ip):
            signal_refused(request, username, "locked")
            _clear_pending(request)
            messages.error(request, locked_message())
            return redirect("login")
        if totp_device_verify(user=self.user, code=form.cleaned_data["code"]):
            return _complete_login(request, self.user, backend=self.pending["backend"], next_url=self.pending["next"])
        signal_refused(request, username, "bad_2fa_code")
        if lockout.record_failure(username, ip):
            _clear_pending(request)
            messages.error(request, locked_message())
            return redirect("login")
        form.add_error("code", "Wrong or already used code. Wait for the next one and try again.")
        return self._render(form)

    def _render(self, form: TotpCodeForm) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "pending_user": self.user})


@method_decorator([sensitive_post_parameters("code"), never_cache], name="dispatch")
class TotpSetupView(View):
    """Enrol an authenticator app: show the key (otpauth URI and base32, as text), confirm a code.

    Serves a signed-in user, or a staff user whose password was accepted but who must enrol before
    being signed in. The key lives in the session until a code proves the app has it; only then is
    it written to the account.
    """

    template_name = "accounts/totp_setup.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.pending: Pending | None = None
        if request.user.is_authenticated:
            self.user: User = request.user  # type: ignore[assignment]
        else:
            found = _pending(request)
            if found is None or not found[0]["enrol"]:
                return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}")
            self.pending, self.user = found
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(TotpCodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if has_2fa(self.user):
            return redirect("totp_setup")
        form = TotpCodeForm(request.POST)
        secret = request.session.get(ENROL_SECRET_KEY)
        if not form.is_valid() or not secret:
            return self._render(form)
        if not totp_device_confirm(user=self.user, secret_b32=secret, code=form.cleaned_data["code"]):
            form.add_error("code", "That code does not match. Check the app shows this account and try the next code.")
            return self._render(form)
        request.session.pop(ENROL_SECRET_KEY, None)
        messages.success(request, "Two-factor authentication is on. You will be asked for a code at every sign-in.")
        if self.pending is not None:
            return _complete_login(request, self.user, backend=self.pending["backend"], next_url=self.pending["next"])
        return redirect(self._next_url() or reverse("totp_setup"))

    def _next_url(self) -> str | None:
        return _safe_next(self.request, self.request.POST.get("next") or self.request.GET.get("next"))

    def _render(self, form: TotpCodeForm) -> HttpResponse:
        context: dict[str, Any] = {
            "form": form,
            "account": self.user,
            "enabled": has_2fa(self.user),
            "next": self._next_url() or "",
            "continue_url": self._next_url() or resolve_url(settings.LOGIN_REDIRECT_URL),
            # Skipping is offered only to someone already signed in and not obliged to enrol.
            "can_skip": self.pending is None and not (is_privileged(self.user) and require_2fa_for_staff()),
            "staff_reminder": is_privileged(self.user) and not has_2fa(self.user),
            "disable_form": TotpCodeForm(prefix="disable"),
            "can_disable": not (is_privileged(self.user) and require_2fa_for_staff()),
        }
        if not context["enabled"]:
            secret = self.request.session.get(ENROL_SECRET_KEY)
            if not secret:
                secret = totp_new_key()
                self.request.session[ENROL_SECRET_KEY] = secret
            context["secret"] = secret
            context["secret_grouped"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            context["otpauth_uri"] = totp_provisioning_uri(user=self.user, secret_b32=secret)
        return render(self.request, self.template_name, context)


@sensitive_post_parameters("disable-code")
@never_cache
@require_POST
@login_required
def totp_disable(request: HttpRequest) -> HttpResponse:
    """Turn 2FA off; needs a current code, so a session left open cannot strip the second factor."""
    user: User = request.user  # type: ignore[assignment]
    if not has_2fa(user):
        return redirect("totp_setup")
    if is_privileged(user) and require_2fa_for_staff():
        messages.error(request, "Staff accounts must keep two-factor authentication.")
        return redirect("totp_setup")
    username = user.get_username()
    ip = lockout.client_ip(request)
    if lockout.is_locked(username, ip):
        messages.error(request, locked_message())
        return redirect("totp_setup")
    form = TotpCodeForm(request.POST, prefix="disable")
    if form.is_valid() and totp_device_verify(user=user, code=form.cleaned_data["code"]):
        totp_device_remove(user=user)
        messages.success(request, "Two-factor authentication is off.")
        return redirect("totp_setup")
    # Guessing codes from a hijacked session must hit the same lockout as guessing at sign-in.
    lockout.record_failure(username, ip)
    messages.error(request, "Wrong or already used code; two-factor authentication is still on.")
    return redirect("totp_setup")


def admin_login_redirect(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """Replaces the admin site's own login form (see admin.py), which would skip lockout and 2FA."""
    next_url = _safe_next(request, request.GET.get("next")) or reverse("admin:index")
    if request.user.is_authenticated:
        # Signed in but not staff: sending them to the sign-in page would bounce straight back.
        return render(request, "accounts/admin_denied.html", status=403)
    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")
