"""Reads: an incident's assist marks, and the center's measures of success over a period.

Every figure is computed by PostgreSQL (counts, FILTER, percentile_cont, GROUPING SETS for the
totals and the buckets in one pass); Python only fills empty buckets and names things. The records
come from `scope_to_user` without a layer, so a center's measures are its own agency's work only
(a superuser's cover every agency). The base querysets are compiled to SQL and used as CTEs, so
the scoping rule stays in one place.

Definitions:
- An incident counts in the period when it was received in it (local days in the agency's time zone).
- Assisted: at least one mark other than "no assist possible".
- Engagement: the first of the incident's first mark (any kind) and the first camera stream opened
  for it (a `camera.stream_open` audit event naming the incident, by a user of its agency).
- Camera views: those stream-open events; opens that named no incident are counted as unlinked.
- Alerts and hotlist hits count when raised in the period; the outcome is the acknowledger's.
- Workload: audit events in the period by users of the agency, per user and per shift (RTCC_SHIFTS).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user
from apps.audit.models import AuditAction, AuditEvent
from apps.incidents.models import Incident
from apps.sensors.choices import AckOutcome, AlertKind, AlertStatus
from apps.sensors.models import Alert

from .choices import AssistKind
from .models import IncidentAssist
from .period import Period
from .shifts import Shift, configured_shifts

# Workload columns: what the operator did, from the audit trail.
WORKLOAD_ACTIONS: dict[str, tuple[str, ...]] = {
    "stream_opens": (AuditAction.CAMERA_STREAM_OPEN,),
    "acknowledgements": (AuditAction.ALERT_ACK,),
    "assists": (AuditAction.INCIDENT_ASSIST,),
    "searches": (AuditAction.SEARCH, AuditAction.PLATE_SEARCH),
}


def assist_list(*, user, incident_id: int) -> QuerySet[IncidentAssist]:
    """The marks on one incident, if the user may see the incident (else none)."""
    visible = scope_to_user(Incident.objects.filter(pk=incident_id), user, layer=Layer.INCIDENTS)
    return IncidentAssist.objects.filter(incident__in=visible.values("pk")).select_related("created_by")


def _cte(qs: QuerySet) -> tuple[str, tuple]:
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


def _rows(sql: str, params: list | tuple) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [col.name for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _bucket_day(value: Any) -> date | None:
    return None if value is None else value.date()


def _split(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[date, dict[str, Any]]]:
    """GROUPING SETS ((bucket), ()): the row whose `grand` flag is set is the total, the rest are buckets."""
    total: dict[str, Any] = {}
    by_bucket: dict[date, dict[str, Any]] = {}
    for row in rows:
        if row.pop("grand"):
            total = row
        else:
            by_bucket[_bucket_day(row["bucket"])] = row
    return total, by_bucket


def _scoped_incidents(user, period: Period) -> QuerySet:
    qs = Incident.objects.filter(received_at__gte=period.start, received_at__lt=period.end)
    return scope_to_user(qs, user).order_by().values("id", "agency_id", "received_at")


def incident_measures(*, user, period: Period) -> tuple[dict[str, Any], dict[date, dict[str, Any]]]:
    """Incidents, assisted, engaged, engagement time and camera views: the total and per bucket."""
    inc_sql, inc_params = _cte(_scoped_incidents(user, period))
    sql = f"""
        WITH inc AS ({inc_sql}),
        marks AS (
            SELECT a.incident_id, min(a.created_at) AS first_at, bool_or(a.kind <> %s) AS assisted
            FROM {IncidentAssist._meta.db_table} a JOIN inc ON inc.id = a.incident_id
            GROUP BY a.incident_id
        ),
        opens AS (
            SELECT e.agency_id,
                   CASE WHEN jsonb_typeof(e.detail -> 'incident') = 'number'
                        THEN (e.detail ->> 'incident')::bigint END AS incident_id,
                   e.at
            FROM {AuditEvent._meta.db_table} e
            WHERE e.action = %s AND e.at >= %s
        ),
        views AS (
            SELECT inc.id AS incident_id, min(o.at) AS first_at, count(*) AS n
            FROM opens o JOIN inc ON inc.id = o.incident_id AND inc.agency_id = o.agency_id
            GROUP BY inc.id
        ),
        per AS (
            SELECT date_trunc(%s, inc.received_at AT TIME ZONE %s) AS bucket,
                   COALESCE(marks.assisted, false) AS assisted,
                   EXTRACT(EPOCH FROM LEAST(marks.first_at, views.first_at) - inc.received_at) AS engage_s,
                   COALESCE(views.n, 0) AS views
            FROM inc LEFT JOIN marks ON marks.incident_id = inc.id LEFT JOIN views ON views.incident_id = inc.id
        )
        SELECT GROUPING(bucket) = 1 AS grand, bucket,
               count(*) AS incidents,
               count(*) FILTER (WHERE assisted) AS assisted,
               count(engage_s) AS engaged,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY engage_s) AS engage_p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY engage_s) AS engage_p90,
               avg(engage_s) AS engage_mean,
               COALESCE(sum(views), 0) AS views,
               count(*) FILTER (WHERE views > 0) AS incidents_viewed,
               COALESCE(max(views), 0) AS views_max
        FROM per
        GROUP BY GROUPING SETS ((bucket), ())
    """
    params = [
        *inc_params,
        AssistKind.NO_ASSIST,
        AuditAction.CAMERA_STREAM_OPEN,
        period.start,
        period.bucket,
        str(period.tz),
    ]
    return _split(_rows(sql, params))


def assists_by_kind(*, user, period: Period) -> dict[str, int]:
    """Incidents received in the period, per kind of mark (an incident marked two ways counts in both)."""
    inc_sql, inc_params = _cte(_scoped_incidents(user, period))
    sql = f"""
        WITH inc AS ({inc_sql})
        SELECT a.kind, count(*) AS incidents
        FROM {IncidentAssist._meta.db_table} a JOIN inc ON inc.id = a.incident_id
        GROUP BY a.kind
    """
    return {row["kind"]: row["incidents"] for row in _rows(sql, inc_params)}


def unlinked_stream_opens(*, user, period: Period) -> int:
    """Camera streams opened in the period with a reason but no incident named."""
    qs = scope_to_user(
        AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN, at__gte=period.start, at__lt=period.end),
        user,
    )
    return qs.filter(Q(detail__incident=None) | ~Q(detail__has_key="incident")).count()


def alert_measures(*, user, period: Period) -> tuple[dict[str, Any], dict[date, dict[str, Any]]]:
    """Alerts raised, acknowledged and time to acknowledge; hotlist hits by outcome: total and per bucket.

    Acknowledged means an operator acknowledged it (acknowledged_at), whatever its status now: an alert
    acknowledged and later cancelled by its source (closed) still counts; one closed unseen does not."""
    qs = scope_to_user(Alert.objects.filter(raised_at__gte=period.start, raised_at__lt=period.end), user)
    al_sql, al_params = _cte(qs.order_by().values("kind", "status", "raised_at", "acknowledged_at", "ack_outcome"))
    sql = f"""
        WITH al AS ({al_sql}),
        per AS (
            SELECT date_trunc(%s, raised_at AT TIME ZONE %s) AS bucket, kind = %s AS hit,
                   acknowledged_at IS NOT NULL AS acked, status = %s AS closed, ack_outcome AS outcome,
                   EXTRACT(EPOCH FROM acknowledged_at - raised_at) AS ack_s
            FROM al
        )
        SELECT GROUPING(bucket) = 1 AS grand, bucket,
               count(*) AS alerts,
               count(*) FILTER (WHERE acked) AS acknowledged,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s) AS ack_p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s) AS ack_p90,
               avg(ack_s) AS ack_mean,
               count(*) FILTER (WHERE hit) AS hits,
               count(*) FILTER (WHERE hit AND acked) AS hits_acknowledged,
               count(*) FILTER (WHERE closed AND NOT acked) AS closed_unacknowledged,
               count(*) FILTER (WHERE hit AND closed AND NOT acked) AS hits_closed_unacknowledged,
               count(*) FILTER (WHERE hit AND acked AND outcome = %s) AS hits_confirmed,
               count(*) FILTER (WHERE hit AND acked AND outcome = %s) AS hits_false_positive,
               count(*) FILTER (WHERE hit AND acked AND outcome NOT IN (%s, %s)) AS hits_unknown
        FROM per
        GROUP BY GROUPING SETS ((bucket), ())
    """
    params = [
        *al_params,
        period.bucket,
        str(period.tz),
        AlertKind.HOTLIST_HIT,
        AlertStatus.CLOSED,
        AckOutcome.CONFIRMED,
        AckOutcome.FALSE_POSITIVE,
        AckOutcome.CONFIRMED,
        AckOutcome.FALSE_POSITIVE,
    ]
    return _split(_rows(sql, params))


def alerts_by_kind(*, user, period: Period) -> list[dict[str, Any]]:
    qs = scope_to_user(Alert.objects.filter(raised_at__gte=period.start, raised_at__lt=period.end), user)
    al_sql, al_params = _cte(qs.order_by().values("kind", "status", "raised_at", "acknowledged_at"))
    sql = f"""
        WITH al AS ({al_sql})
        SELECT kind, count(*) AS alerts, count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM acknowledged_at - raised_at)) AS ack_p50
        FROM al GROUP BY kind ORDER BY kind
    """
    rows = _rows(sql, [*al_params])
    return [
        {
            "kind": row["kind"],
            "label": str(AlertKind(row["kind"]).label) if row["kind"] in AlertKind.values else row["kind"],
            "alerts": row["alerts"],
            "acknowledged": row["acknowledged"],
            "ack_p50_s": _seconds(row["ack_p50"]),
        }
        for row in rows
    ]


def _shift_case(shifts: list[Shift]) -> tuple[str, list]:
    """SQL CASE naming the shift a local time `t` falls in; a shift past midnight is `t >= start OR t < end`."""
    whens, params = [], []
    for shift in shifts:
        if shift.crosses_midnight:
            whens.append("WHEN t >= %s OR t < %s THEN %s")
        else:
            whens.append("WHEN t >= %s AND t < %s THEN %s")
        params += [shift.start, shift.end, shift.name]
    return "CASE " + " ".join(whens) + " END", params


def workload(*, user, period: Period, shifts: list[Shift] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per operator and shift, and per shift: stream opens, acknowledgements, assists, searches."""
    shifts = shifts if shifts is not None else configured_shifts()
    actions = [a for group in WORKLOAD_ACTIONS.values() for a in group]
    qs = scope_to_user(AuditEvent.objects.filter(at__gte=period.start, at__lt=period.end, action__in=actions), user)
    ev_sql, ev_params = _cte(qs.order_by().values("username", "action", "at"))
    case_sql, case_params = _shift_case(shifts)
    counts = []
    count_params: list = []
    for column, group in WORKLOAD_ACTIONS.items():
        counts.append(f"count(*) FILTER (WHERE action IN ({', '.join(['%s'] * len(group))})) AS {column}")
        count_params += list(group)
    sql = f"""
        WITH ev AS ({ev_sql}),
        local AS (SELECT username, action, (at AT TIME ZONE %s)::time AS t FROM ev),
        per AS (SELECT username, action, {case_sql} AS shift FROM local)
        SELECT GROUPING(username) = 1 AS all_users, username, shift, {", ".join(counts)}, count(*) AS total
        FROM per
        GROUP BY GROUPING SETS ((username, shift), (shift))
    """
    rows = _rows(sql, [*ev_params, str(period.tz), *case_params, *count_params])
    order = {shift.name: i for i, shift in enumerate(shifts)}
    by_operator, by_shift = [], {}
    for row in rows:
        all_users = row.pop("all_users")
        if all_users:
            row.pop("username")
            by_shift[row["shift"]] = row
        else:
            by_operator.append(row)
    by_operator.sort(key=lambda r: (r["username"], order.get(r["shift"], len(order))))
    empty = {column: 0 for column in WORKLOAD_ACTIONS} | {"total": 0}
    shift_rows = [{**empty, **by_shift.get(s.name, {}), "shift": s.name} for s in shifts]
    return {"by_operator": by_operator, "by_shift": shift_rows}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def measures_summary(*, user, period: Period) -> dict[str, Any]:
    """Everything the dashboard and the CSV show, as plain JSON-ready values."""
    shifts = configured_shifts()
    inc_total, inc_buckets = incident_measures(user=user, period=period)
    al_total, al_buckets = alert_measures(user=user, period=period)
    kinds = assists_by_kind(user=user, period=period)
    incidents = inc_total.get("incidents", 0)
    assisted = inc_total.get("assisted", 0)
    viewed = inc_total.get("incidents_viewed", 0)
    views = int(inc_total.get("views", 0))
    hits_ack = al_total.get("hits_acknowledged", 0)
    series = []
    for day in period.buckets():
        i = inc_buckets.get(day, {})
        a = al_buckets.get(day, {})
        series.append(
            {
                "bucket": day.isoformat(),
                "incidents": i.get("incidents", 0),
                "assisted": i.get("assisted", 0),
                "engaged": i.get("engaged", 0),
                "engagement_p50_s": _seconds(i.get("engage_p50")),
                "camera_views": int(i.get("views", 0)),
                "alerts": a.get("alerts", 0),
                "alerts_acknowledged": a.get("acknowledged", 0),
                "ack_p50_s": _seconds(a.get("ack_p50")),
                "hotlist_hits": a.get("hits", 0),
                "hotlist_confirmed": a.get("hits_confirmed", 0),
                "hotlist_false_positive": a.get("hits_false_positive", 0),
            }
        )
    return {
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "bucket": period.bucket,
        "time_zone": str(period.tz),
        "shifts": [{"name": s.name, "start": f"{s.start:%H:%M}", "end": f"{s.end:%H:%M}"} for s in shifts],
        "incidents": {
            "total": incidents,
            "assisted": assisted,
            "assisted_share": _ratio(assisted, incidents),
            "by_kind": [
                {"kind": kind.value, "label": str(kind.label), "incidents": kinds.get(kind.value, 0)}
                for kind in AssistKind
            ],
        },
        "engagement": {
            "engaged": inc_total.get("engaged", 0),
            "p50_s": _seconds(inc_total.get("engage_p50")),
            "p90_s": _seconds(inc_total.get("engage_p90")),
            "mean_s": _seconds(inc_total.get("engage_mean")),
        },
        "camera_views": {
            "views": views,
            "incidents_viewed": viewed,
            "per_viewed_incident": round(views / viewed, 2) if viewed else None,
            "per_incident": round(views / incidents, 2) if incidents else None,
            "max_per_incident": int(inc_total.get("views_max", 0)),
            "unlinked": unlinked_stream_opens(user=user, period=period),
        },
        "hotlist_hits": {
            "total": al_total.get("hits", 0),
            "acknowledged": hits_ack,
            "confirmed": al_total.get("hits_confirmed", 0),
            "false_positive": al_total.get("hits_false_positive", 0),
            "unknown": al_total.get("hits_unknown", 0),
            "open": al_total.get("hits", 0) - hits_ack - al_total.get("hits_closed_unacknowledged", 0),
        },
        "alerts": {
            "total": al_total.get("alerts", 0),
            "acknowledged": al_total.get("acknowledged", 0),
            "acknowledged_share": _ratio(al_total.get("acknowledged", 0), al_total.get("alerts", 0)),
            # Ended by their source (cancelled, expired) before anyone acknowledged them.
            "closed_unacknowledged": al_total.get("closed_unacknowledged", 0),
            "ack_p50_s": _seconds(al_total.get("ack_p50")),
            "ack_p90_s": _seconds(al_total.get("ack_p90")),
            "ack_mean_s": _seconds(al_total.get("ack_mean")),
            "by_kind": alerts_by_kind(user=user, period=period),
        },
        "series": series,
        "workload": workload(user=user, period=period, shifts=shifts),
    }


def measures_csv_rows(summary: dict[str, Any]) -> Iterator[tuple]:
    """The summary as one long table: (section, bucket, username, shift, measure, value)."""
    for section in ("incidents", "engagement", "camera_views", "hotlist_hits", "alerts"):
        for measure, value in summary[section].items():
            if measure == "by_kind":
                for row in value:
                    key = "incidents" if section == "incidents" else "alerts"
                    yield (f"{section}_by_kind", "", "", "", f"{row['kind']}", row[key])
                continue
            yield (section, "", "", "", measure, value)
    for row in summary["series"]:
        for measure, value in row.items():
            if measure != "bucket":
                yield ("series", row["bucket"], "", "", measure, value)
    for row in summary["workload"]["by_operator"]:
        for measure in (*WORKLOAD_ACTIONS, "total"):
            yield ("workload", "", row["username"], row["shift"], measure, row[measure])
    for row in summary["workload"]["by_shift"]:
        for measure in (*WORKLOAD_ACTIONS, "total"):
            yield ("workload_by_shift", "", "", row["shift"], measure, row[measure])
