from django.urls import path

from . import views

app_name = "demo"
urlpatterns: list = [
    path("cameras/<str:external_id>/snapshot.svg", views.camera_snapshot, name="camera_snapshot"),
    path("cameras/<str:external_id>/hls/<str:name>", views.camera_hls, name="camera_hls"),
]
