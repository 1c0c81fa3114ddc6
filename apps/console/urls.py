"""The operator's pages. Sign-in and sign-out are apps.accounts.urls."""

from django.urls import path

from . import views, wall

urlpatterns = [
    path("", views.map_page, name="map"),
    path("wall/", wall.wall_page, name="wall"),
]
