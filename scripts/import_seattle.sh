#!/usr/bin/env bash
# Loads the real Seattle public records (../shared/data) into their own agency "SPD", through the
# same import command an agency would use. Runs once: skipped when the SPD beats are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:?usage: import_seattle.sh SHARED_DATA_DIR}
PY=${VENV:-.venv}/bin/python

# Basemap streets (public OpenStreetMap data, no agency): once, before the SPD layers' run-once check.
"$PY" manage.py shell --no-imports -c "from apps.tiles.models import Street; import sys; sys.exit(0 if Street.objects.exists() else 1)" \
  || "$PY" manage.py import_streets "$D/seattle_osm/seattle_osm2streets_merged.osm.pbf"

if "$PY" manage.py shell --no-imports -c "from apps.zones.models import Zone; import sys; sys.exit(0 if Zone.objects.filter(agency__code='SPD', kind='beat').exists() else 1)"; then
  echo "[import] real Seattle layers already loaded (agency SPD)"
  exit 0
fi
"$PY" manage.py create_agency SPD "Seattle Police Department (public records)"
imp() { "$PY" manage.py import_layer "$@" --agency SPD; }
# Beats and precincts first, so incidents get their beat.
imp zones "$D/seattle_boundaries/spd-beats.geojson" --mapping fixtures/mappings/spd_beats.json
imp zones "$D/seattle_boundaries/spd-precincts.geojson" --mapping fixtures/mappings/spd_precincts.json
imp cameras "$D/seattle_cameras/seattle_sdot_cameras_2024.json" --mapping fixtures/mappings/sdot_cameras.json
imp incidents "$D/seattle_cad/spd_911_incident_response_2016-03-25.csv" --mapping fixtures/mappings/spd_911_2016.json
