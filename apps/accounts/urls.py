"""Sign-in and sign-out routes (the hardened sign-in: lockout, 2FA)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/login/verify/", views.LoginVerifyView.as_view(), name="login_verify"),
    path("accounts/2fa/setup/", views.TotpSetupView.as_view(), name="totp_setup"),
    path("accounts/2fa/disable/", views.totp_disable, name="totp_disable"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
