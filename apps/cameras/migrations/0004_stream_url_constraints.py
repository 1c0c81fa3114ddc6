# The database refuses what 0003 cleaned up (its own migration: constraints after the data changes).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cameras', '0003_stream_secret'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='camera',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('sharing', 'on_request'), _negated=True), ('stream_url', ''), _connector='OR'), name='camera_on_request_has_no_stream_url', violation_error_message='stream_url: a camera shared on request only cannot have a stream URL'),
        ),
        migrations.AddConstraint(
            model_name='camera',
            constraint=models.CheckConstraint(condition=models.Q(('stream_url__regex', '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@'), _negated=True), name='camera_stream_url_has_no_credentials', violation_error_message='stream_url: credentials belong in the stream credentials, not the URL'),
        ),
    ]
