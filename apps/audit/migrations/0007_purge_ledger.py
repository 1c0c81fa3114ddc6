"""The audit purge's own ledger (AuditPurge): written only by the SECURITY DEFINER function audit_purge_batch
(retention migration 0005), read by verification; the app role may only SELECT it (apps/audit/apps.py).

A trail that was already purged before the ledger existed starts with an event whose prev_hash names a removed
one: that start is adopted here, once, as the ledger's first row, so verification does not call it tampering.
"""
from django.db import migrations, models

ADOPT = """
INSERT INTO audit_auditpurge (at, cutoff, days, deleted, first_id, last_id, last_hash)
SELECT now(), a.at, 0, 0, a.id - 1, a.id - 1, a.prev_hash
FROM (SELECT id, at, prev_hash FROM audit_auditevent ORDER BY id LIMIT 1) a
WHERE a.prev_hash <> '';
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_more_actions'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditPurge',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(help_text='when the function ran (the database clock)')),
                ('cutoff', models.DateTimeField(help_text='every row it removed was older than this')),
                ('days', models.PositiveIntegerField(help_text="the period it applied: the policy's, never below the floor")),
                ('deleted', models.BigIntegerField()),
                ('first_id', models.BigIntegerField(help_text='the oldest audit event it removed')),
                ('last_id', models.BigIntegerField(help_text='the newest audit event it removed: the remaining trail starts after')),
                ('last_hash', models.CharField(help_text="that event's hash: the first remaining event's prev_hash", max_length=64)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.RunSQL(ADOPT, migrations.RunSQL.noop),
    ]
