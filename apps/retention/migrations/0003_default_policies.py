"""The default retention policies (RTCC policy: ALPR reads that are not hits go after 90 days, ...).

Only missing policies are created, so re-running never overwrites a period an agency has changed in the admin.
"""
from django.db import migrations

DEFAULTS = [
    ("alpr_reads", 90, "RTCC policy: ALPR reads that are not hotlist hits are kept 90 days"),
    ("alpr_hits", 365, "RTCC policy: ALPR hotlist hits are kept one year"),
    ("unit_positions", 30, "RTCC policy: AVL history is kept 30 days"),
    ("closed_incidents", 1825, "RTCC policy: closed incidents are kept 5 years"),
    ("gunshots", 1825, "RTCC policy: gunshot detections are kept 5 years"),
    ("alerts", 365, "RTCC policy: acknowledged alerts are kept one year"),
    ("dead_letters", 30, "RTCC policy: rejected feed records are kept 30 days"),
    ("audit", 2555, "RTCC policy: the audit trail is kept 7 years"),
]


def create_defaults(apps, schema_editor):
    RetentionPolicy = apps.get_model("retention", "RetentionPolicy")
    for data_class, days, note in DEFAULTS:
        RetentionPolicy.objects.get_or_create(data_class=data_class, defaults={"days": days, "note": note})


class Migration(migrations.Migration):
    dependencies = [("retention", "0002_purgereceipt_complete_policy_days_min")]

    # Reversing keeps the rows: they may have been edited since, and the table goes with 0001 anyway.
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
