"""The audit purge, hardened against the app role: a floor it cannot lower, and a ledger it cannot write.

The app role may UPDATE retention_retentionpolicy (the admin edits periods) and INSERT audit events. Before this,
it could set the audit policy to one day, loop audit_purge_batch, and plant a matching `retention.purge` event.
Now:

- retention_auditfloor, one row owned by the owner role (the app role may only read it), holds the shortest period
  the audit trail is ever kept; the function keeps events for the policy's period or the floor, whichever is
  longer (`audit_purge_days()`). Only the owner changes it: `UPDATE retention_auditfloor SET days = 2555`.
- every batch that removed events writes one row to audit_auditpurge (audit migration 0007) from inside the
  function; verification believes a vanished start of the trail only where that ledger accounts for it, never an
  audit event that says so.
"""
from importlib import import_module

from django.db import migrations

FLOOR_DAYS = 365  # one year, whatever the policy says; the owner may raise (or lower) it

FORWARD = f"""
CREATE TABLE retention_auditfloor (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    days integer NOT NULL CHECK (days >= 1)
);
INSERT INTO retention_auditfloor (days) VALUES ({FLOOR_DAYS});

CREATE OR REPLACE FUNCTION audit_purge_days()
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT GREATEST(p.days, (SELECT f.days FROM retention_auditfloor f))
    FROM retention_retentionpolicy p WHERE p.data_class = 'audit'
$$;

CREATE OR REPLACE FUNCTION audit_purge_batch(p_batch integer)
RETURNS TABLE (deleted bigint, last_id bigint, last_hash text, cutoff timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_days integer;
    v_cutoff timestamptz;
    v_first_kept bigint;
    v_first_id bigint;
BEGIN
    IF p_batch IS NULL OR p_batch < 1 OR p_batch > 50000 THEN
        RAISE EXCEPTION 'audit_purge_batch: the batch size must be 1 to 50000, got %', p_batch;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM retention_retentionpolicy p WHERE p.data_class = 'audit' AND p.enabled
                   AND p.days >= 1) THEN
        RAISE EXCEPTION 'audit_purge_batch: no enabled audit retention policy of at least one day';
    END IF;
    v_days := audit_purge_days();  -- the policy's period, never shorter than the owner's floor
    IF v_days IS NULL OR v_days < 1 THEN
        RAISE EXCEPTION 'audit_purge_batch: no audit retention floor';
    END IF;
    v_cutoff := now() - make_interval(days => v_days);
    -- The trail is cut only as an unbroken oldest prefix: never past the first row still within its period.
    SELECT a.id INTO v_first_kept FROM audit_auditevent a WHERE a.at >= v_cutoff ORDER BY a.id LIMIT 1;
    PERFORM set_config('rtcc.audit_purge', 'on', true);
    WITH doomed AS (
        SELECT a.id FROM audit_auditevent a
        WHERE a.at < v_cutoff AND (v_first_kept IS NULL OR a.id < v_first_kept)
        ORDER BY a.id LIMIT p_batch
    ), gone AS (
        DELETE FROM audit_auditevent a USING doomed WHERE a.id = doomed.id RETURNING a.id, a.hash
    )
    SELECT count(*), min(g.id), max(g.id), (array_agg(g.hash ORDER BY g.id DESC))[1]
    INTO deleted, v_first_id, last_id, last_hash FROM gone g;
    PERFORM set_config('rtcc.audit_purge', 'off', true);
    IF deleted > 0 THEN
        INSERT INTO audit_auditpurge (at, cutoff, days, deleted, first_id, last_id, last_hash)
        VALUES (now(), v_cutoff, v_days, deleted, v_first_id, last_id, last_hash);
    END IF;
    cutoff := v_cutoff;
    RETURN NEXT;
END;
$$;
REVOKE ALL ON FUNCTION audit_purge_batch(integer) FROM PUBLIC;
"""

# Back to 0004's function (it reads neither the floor nor writes the ledger), then drop what this one added.
REVERSE = import_module("apps.retention.migrations.0004_audit_purge_function").FORWARD + """
DROP FUNCTION IF EXISTS audit_purge_days();
DROP TABLE IF EXISTS retention_auditfloor;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0004_audit_purge_function"),
        ("audit", "0007_purge_ledger"),
    ]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
