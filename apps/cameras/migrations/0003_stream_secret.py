"""Stream credentials move out of the camera row, and "on request" cameras lose their stream URL.

A URL like rtsp://user:pass@host/... is split: the camera keeps rtsp://host/..., the user name and
password go to CameraStreamSecret. Cameras shared "recorded, on request only" are never watched
live, so a stream URL they hold (a leftover) is cleared. 0004 then makes the database refuse both.
"""

import django.db.models.deletion
from django.db import migrations, models

from apps.cameras.models import CREDENTIALS_IN_URL, split_stream_credentials


def split_credentials(apps, schema_editor):
    Camera = apps.get_model("cameras", "Camera")
    Secret = apps.get_model("cameras", "CameraStreamSecret")
    for camera in Camera.objects.filter(stream_url__regex=CREDENTIALS_IN_URL).only("pk", "stream_url"):
        url, username, password = split_stream_credentials(camera.stream_url)
        Secret.objects.update_or_create(camera_id=camera.pk, defaults={"username": username, "password": password})
        Camera.objects.filter(pk=camera.pk).update(stream_url=url)
    Camera.objects.filter(sharing="on_request").exclude(stream_url="").update(stream_url="", stream_kind="")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_api_token'),
        ('cameras', '0002_camera_last_checked_at'),
    ]

    operations = [
        migrations.CreateModel(
            name='CameraStreamSecret',
            fields=[
                ('camera', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='stream_secret', serialize=False, to='cameras.camera')),
                ('username', models.CharField(blank=True, max_length=200)),
                ('password', models.CharField(blank=True, max_length=200)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RunPython(split_credentials, migrations.RunPython.noop),
    ]
