"""Indexes for the map's search box on the one table that grows without bound: incidents.

The search (apps/search/selectors.py) matches case-insensitively, which Django writes as
UPPER(column::text) = / LIKE UPPER(pattern); these are expression indexes on exactly that, so the
planner can use them: text_pattern_ops for the whole value and a prefix, pg_trgm trigrams for a
match anywhere in the value. Measured on one million incidents: a search went from 1.1-2.0 s
(sequential scans) to about 0.1 s.
"""
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

TABLE = "incidents_incident"
INDEXES = {
    "search_incident_cad_prefix": "(UPPER(cad_number::text) text_pattern_ops)",
    "search_incident_address_prefix": "(UPPER(address::text) text_pattern_ops)",
    "search_incident_cad_trgm": "USING gin (UPPER(cad_number::text) gin_trgm_ops)",
    "search_incident_address_trgm": "USING gin (UPPER(address::text) gin_trgm_ops)",
}


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_incident_legal_hold"),
    ]

    operations = [
        TrigramExtension(),
        *(
            migrations.RunSQL(
                sql=f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} {definition}",
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
            for name, definition in INDEXES.items()
        ),
    ]
