from django.contrib.auth import views as auth_views
from django.urls import path

from apps.cameras.views import wall_page

from . import views

urlpatterns = [
    path("", views.map_page, name="map"),
    path("wall/", wall_page, name="wall"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
