"""FeedSource params in the one mapping vocabulary: the older top-level `fields`, `timezone`, `delimiter`
and `statuses` move into params["mapping"] (fields, tz, delimiter, values.status), so nothing stored uses
the old words. The adapters still read those words as documented aliases (apps.feeds.adapters.mapped)."""

from django.db import migrations

MOVES = {"fields": "fields", "timezone": "tz", "delimiter": "delimiter"}


def to_mapping(params: dict) -> dict | None:
    """The params with the old words moved, or None when there is nothing to move."""
    if not isinstance(params, dict) or not any(key in params for key in (*MOVES, "statuses")):
        return None
    params = dict(params)
    mapping = params.get("mapping")
    if isinstance(mapping, str) or (mapping is not None and not isinstance(mapping, dict)):
        # A named mapping file cannot take additions here; leave such a source as it is (the aliases still work).
        return None
    mapping = dict(mapping or {})
    for old, new in MOVES.items():
        if old in params:
            value = params.pop(old)
            if value not in (None, "", {}):
                mapping.setdefault(new, value)
    if "statuses" in params:
        statuses = params.pop("statuses")
        if isinstance(statuses, dict) and statuses:
            values = dict(mapping.get("values") or {})
            values["status"] = {**statuses, **(values.get("status") or {})}
            mapping["values"] = values
    params["mapping"] = mapping
    return params


def forwards(apps, schema_editor):
    FeedSource = apps.get_model("feeds", "FeedSource")
    for source in FeedSource.objects.all().only("id", "params"):
        moved = to_mapping(source.params)
        if moved is not None:
            FeedSource.objects.filter(pk=source.pk).update(params=moved)


class Migration(migrations.Migration):
    dependencies = [("feeds", "0004_deadletter_field")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
