"""The retention purge's one door into the audit table: a SECURITY DEFINER function owned by the owner role.

The app role has no DELETE on audit_auditevent (apps/core/dbroles.py); it may only EXECUTE this function, whose own
checks are the policy: the audit class's period comes from its retention policy (enabled, at least a day) and the
database clock, never from the caller; only the oldest rows go (a prefix in id order ending before the first row
still within the period, which the append-only triggers check again); at most `p_batch` rows per call. It returns
how many rows went, the last one's id and hash (where the remaining chain begins) and the cut-off it applied.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_purge_batch(p_batch integer)
RETURNS TABLE (deleted bigint, last_id bigint, last_hash text, cutoff timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_days integer;
    v_cutoff timestamptz;
    v_first_kept bigint;
BEGIN
    IF p_batch IS NULL OR p_batch < 1 OR p_batch > 50000 THEN
        RAISE EXCEPTION 'audit_purge_batch: the batch size must be 1 to 50000, got %', p_batch;
    END IF;
    SELECT p.days INTO v_days FROM retention_retentionpolicy p WHERE p.data_class = 'audit' AND p.enabled;
    IF v_days IS NULL OR v_days < 1 THEN
        RAISE EXCEPTION 'audit_purge_batch: no enabled audit retention policy of at least one day';
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
    SELECT count(*), max(g.id), (array_agg(g.hash ORDER BY g.id DESC))[1]
    INTO deleted, last_id, last_hash FROM gone g;
    PERFORM set_config('rtcc.audit_purge', 'off', true);
    cutoff := v_cutoff;
    RETURN NEXT;
END;
$$;
REVOKE ALL ON FUNCTION audit_purge_batch(integer) FROM PUBLIC;
"""

REVERSE = "DROP FUNCTION IF EXISTS audit_purge_batch(integer);"


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0003_default_policies"),
        ("audit", "0006_more_actions"),
    ]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
