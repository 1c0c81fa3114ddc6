from django.urls import path

from . import views

urlpatterns = [
    path("", views.measures_page, name="measures-page"),
]
