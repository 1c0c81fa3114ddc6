"""Audit rows: UPDATE never; DELETE only by the retention purge, and only the oldest rows.

The purge announces itself with `SET LOCAL rtcc.audit_purge = 'on'` in its own transaction. A
statement-level trigger then checks that what was deleted is a prefix of the chain (no older row
remains), so even the purge cannot cut an event out of the middle. TRUNCATE is not trapped here
(Django's test flush uses it); production denies it by privileges.

Rows written before the hash chain existed are chained here, once, in id order.
"""
import json

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('rtcc.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_event_purge_oldest_only() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_auditevent WHERE id < (SELECT max(id) FROM purged)) THEN
        RAISE EXCEPTION 'audit_auditevent is append-only (a purge may remove only the oldest events)';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_purge_prefix_only
    AFTER DELETE ON audit_auditevent
    REFERENCING OLD TABLE AS purged
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_purge_oldest_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_event_purge_prefix_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_purge_oldest_only();
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

_SELECT = """
SELECT id, at, user_id, username, agency_id, action, object_type, object_id, reason, detail, ip
FROM audit_auditevent ORDER BY id
"""


def chain_existing_rows(apps, schema_editor):
    """Hash the rows written before the chain existed (none has a hash yet), oldest first."""
    from apps.audit.chain import event_hash  # the one definition of the hash, shared with verification

    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM audit_auditevent WHERE hash <> '')")
        if cur.fetchone()[0]:
            return
        cur.execute(_SELECT)
        rows = cur.fetchall()
        if not rows:
            return
        # The append-only trigger is lifted for this one-time fill, inside the migration's transaction.
        cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update_delete")
        prev = ""
        for row in rows:
            fields = dict(
                zip(
                    ("id", "at", "user_id", "username", "agency_id", "action", "object_type", "object_id",
                     "reason", "detail", "ip"),
                    row,
                )
            )
            if isinstance(fields["detail"], str):
                fields["detail"] = json.loads(fields["detail"])
            fields["prev_hash"] = prev
            digest = event_hash(fields)
            cur.execute(
                "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", [prev, digest, fields["id"]]
            )
            prev = digest
        cur.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_update_delete")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_alter_auditevent_action_alter_auditevent_at")]
    operations = [
        migrations.RunSQL(FORWARD, REVERSE),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
    ]
