"""Sign-in routes. Included before apps.core.urls, so this login view replaces the plain one."""

from django.urls import path

from . import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/login/verify/", views.LoginVerifyView.as_view(), name="login_verify"),
    path("accounts/2fa/setup/", views.TotpSetupView.as_view(), name="totp_setup"),
    path("accounts/2fa/disable/", views.totp_disable, name="totp_disable"),
]
