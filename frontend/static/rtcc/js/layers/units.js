// Field units at their last AVL position, labelled with the call sign and coloured by status, with a
// trail of where each went in the last few minutes (config.unitTrailMinutes). Live updates move the
// same marker, restyle it in place and extend its trail; units that stop reporting fade (stale).
// Others (the unit list) listen to what changes with onChange().
import { el, infoCard } from "../dom.js";
import { ageSeconds, formatAge, titleCase } from "../format.js";
import { L } from "../leaflet.js";
import {
  PAGE_SIZE,
  applyTags,
  createIndex,
  elementMarker,
  featureId,
  pointLatLng,
  popupOptions,
  removeEntry,
  replaceIcon,
  syncIndex,
  tagElement,
} from "./common.js";

// Trails are drawn under the unit markers (the "units" pane is 450) and above gunshots (440).
const TRAIL_PANE = "unitTrails";
const TRAIL_PANE_Z = 445;

function chip(props, stale) {
  const dot = el("span", { className: "unit-dot" });
  const moving = Number(props.last_speed) > 1 && Number.isFinite(Number(props.last_heading));
  if (moving && props.last_heading !== null) {
    dot.classList.add("moving");
    dot.style.setProperty("--heading", `${Number(props.last_heading)}deg`);
  }
  return el("div", { className: `unit-chip status-${props.status}${stale ? " stale" : ""}` }, [
    dot,
    el("span", { className: "unit-label", text: props.call_sign }),
  ]);
}

function popup(props) {
  const speed = Number(props.last_speed);
  return infoCard(props.call_sign, [
    ["Kind", titleCase(props.kind)],
    ["Status", titleCase(props.status)],
    ["Speed", Number.isFinite(speed) && props.last_speed !== null ? `${Math.round(speed * 3.6)} km/h` : ""],
    ["Last fix", formatAge(props.last_seen)],
  ], { className: "unit-card" });
}

// What an icon shows, as one string: the icon is only rebuilt when this changes.
function look(props, stale) {
  return [props.status, props.call_sign, stale, props.last_speed, props.last_heading].join("|");
}

function trailClass(props, stale) {
  return `unit-trail status-${props.status}${stale ? " stale" : ""}`;
}

export function createUnitsLayer({ api, config, map }) {
  const markers = L.layerGroup();
  const trailLines = L.layerGroup();
  const group = L.layerGroup([trailLines, markers]);
  const index = createIndex();
  // Unit id -> { points: [{ t: ms, latlng }], line }: the trail, oldest fix first.
  const trails = new Map();
  const trailMinutes = Number(config.unitTrailMinutes) || 0;
  const listeners = new Set();
  let truncated = false;

  if (trailMinutes > 0 && !map.getPane(TRAIL_PANE)) map.createPane(TRAIL_PANE).style.zIndex = String(TRAIL_PANE_Z);

  function changed(id) {
    for (const listener of listeners) listener(id);
  }

  // When a unit turns stale. The server's `stale` flag is right when the feature is serialized; a
  // live map keeps it right afterwards by counting from when the feature arrived (the age is
  // clamped, so a browser clock that is off cannot make every unit stale at once).
  function staleAt(props) {
    const limit = config.unitStaleSeconds;
    if (props.stale === true || !props.last_seen) return 0;
    const age = Math.min(Math.max(ageSeconds(props.last_seen) ?? limit, 0), limit);
    return Date.now() + (limit - age) * 1000;
  }

  function isStale(entry) {
    return Date.now() >= entry.staleAt;
  }

  function iconFor(props, stale) {
    return L.divIcon({
      className: `unit-marker status-${props.status}${stale ? " stale" : ""}`,
      html: chip(props, stale),
      iconSize: [0, 0],
      iconAnchor: [0, 0],
    });
  }

  // ---- trails ----------------------------------------------------------------------------------

  function trailCutoff() {
    return Date.now() - trailMinutes * 60 * 1000;
  }

  function drawTrail(id) {
    const trail = trails.get(Number(id));
    if (!trail) return;
    const entry = index.get(id);
    const props = entry?.feature.properties || {};
    const stale = entry ? isStale(entry) : true;
    const latlngs = trail.points.map((point) => point.latlng);
    if (!trail.line) {
      trail.line = L.polyline(latlngs, {
        pane: TRAIL_PANE, interactive: false, weight: 3, opacity: 0.75, className: trailClass(props, stale),
      });
      tagElement(trail.line, { "data-unit-trail": id, "data-points": latlngs.length });
      trailLines.addLayer(trail.line);
      return;
    }
    trail.line.setLatLngs(latlngs);
    trail.line.rtccTags["data-points"] = latlngs.length;
    const node = trail.line.getElement();
    trail.line.options.className = trailClass(props, stale);
    if (node) node.setAttribute("class", trail.line.options.className);
    applyTags(trail.line);
  }

  function dropTrail(id) {
    const trail = trails.get(Number(id));
    if (!trail) return;
    if (trail.line) trailLines.removeLayer(trail.line);
    trails.delete(Number(id));
  }

  // The REST answer replaces what is drawn (it holds every fix, including ones live updates missed);
  // only units on the map keep a trail.
  function setTrails(features) {
    const keep = new Set();
    for (const feature of features) {
      const id = featureId(feature);
      if (id === null || !index.has(id)) continue;
      const { type, coordinates } = feature.geometry || {};
      const coords = type === "Point" ? [coordinates] : coordinates || [];
      const times = feature.properties?.times || [];
      const points = coords.map(([lon, lat], i) => ({ t: Date.parse(times[i]), latlng: L.latLng(lat, lon) }));
      const trail = trails.get(id) || { points: [], line: null };
      trail.points = points.filter((point) => Number.isFinite(point.t));
      trails.set(id, trail);
      keep.add(id);
      drawTrail(id);
    }
    for (const id of [...trails.keys()]) {
      if (!keep.has(id)) dropTrail(id);
    }
  }

  // Trails are the viewer's own agency's units only, as the trails endpoint serves them: a partner
  // sees where shared units are, not where they have been. (No agency: a superuser, who sees all.)
  function hasTrail(props) {
    const own = config.user?.agencyId;
    return own === null || own === undefined || Number(props.agency) === Number(own);
  }

  // A live position: the trail grows by it when it is newer than the trail's last fix.
  function extendTrail(feature, latlng) {
    if (trailMinutes <= 0 || !hasTrail(feature.properties || {})) return;
    const id = featureId(feature);
    const t = Date.parse(feature.properties?.last_seen);
    if (!Number.isFinite(t) || t < trailCutoff()) return;
    const trail = trails.get(id) || { points: [], line: null };
    trails.set(id, trail);
    const last = trail.points[trail.points.length - 1];
    if (last && (t <= last.t || last.latlng.equals(latlng))) return;
    trail.points.push({ t, latlng });
    drawTrail(id);
  }

  function trimTrails() {
    const cutoff = trailCutoff();
    for (const [id, trail] of trails) {
      const kept = trail.points.filter((point) => point.t >= cutoff);
      if (kept.length === trail.points.length) {
        drawTrail(id); // a unit that turned stale restyles its trail too
        continue;
      }
      trail.points = kept;
      drawTrail(id);
    }
  }

  // ---- markers ---------------------------------------------------------------------------------

  function add(feature, latlng) {
    const props = feature.properties || {};
    const entry = { feature, staleAt: staleAt(props) };
    const stale = isStale(entry);
    entry.look = look(props, stale);
    entry.marker = elementMarker(latlng, chip(props, stale), {
      className: `unit-marker status-${props.status}${stale ? " stale" : ""}`,
      pane: "units",
    });
    tagElement(entry.marker, { "data-unit-id": feature.id });
    entry.marker.bindPopup(() => popup(entry.feature.properties || {}), popupOptions());
    index.set(feature.id, entry);
    markers.addLayer(entry.marker);
  }

  function restyle(entry) {
    const props = entry.feature.properties || {};
    const stale = isStale(entry);
    const next = look(props, stale);
    if (next === entry.look) return false;
    entry.look = next;
    replaceIcon(entry.marker, iconFor(props, stale));
    return true;
  }

  function remove(id) {
    dropTrail(id);
    const removed = removeEntry(index, markers, id);
    if (removed) changed(Number(id));
    return removed;
  }

  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    const latlng = pointLatLng(feature);
    if (!latlng) return remove(id); // no position any more: nothing to draw
    const entry = index.get(id);
    if (!entry) {
      add(feature, latlng);
      extendTrail(feature, latlng);
      changed(id);
      return true;
    }
    entry.feature = feature;
    entry.staleAt = staleAt(feature.properties || {});
    if (!entry.marker.getLatLng().equals(latlng)) entry.marker.setLatLng(latlng);
    if (restyle(entry) && trails.has(id)) drawTrail(id);
    extendTrail(feature, latlng);
    changed(id);
    return true;
  }

  function summary() {
    const available = index.features().filter((f) => f.properties?.status === "available").length;
    return { count: index.size, truncated, note: `${available} available` };
  }

  function fetchTrails(bbox, signal) {
    if (trailMinutes <= 0) return Promise.resolve(null);
    return api.getJSON("units/trails/", { minutes: trailMinutes, in_bbox: bbox }, { signal });
  }

  return {
    id: "units",
    live: "units",
    label: "Units",
    perm: "view_layers",
    group,
    legend: [
      { label: "Available", className: "swatch-dot unit-available" },
      { label: "Dispatched", className: "swatch-dot unit-dispatched" },
      { label: "On scene", className: "swatch-dot unit-on_scene" },
      { label: "Out of service", className: "swatch-dot unit-out_of_service" },
      ...(trailMinutes > 0 ? [{ label: `Trail ${trailMinutes} min`, className: "swatch-line unit-trail-swatch" }] : []),
    ],
    async load({ bbox, signal }) {
      const [result, trailAnswer] = await Promise.all([
        api.getFeatures("units/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal }),
        fetchTrails(bbox, signal),
      ]);
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      // After the units: a trail is kept only for a unit on the map.
      if (trailAnswer) setTrails(trailAnswer.features || []);
      changed(null);
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    // Called every few seconds on a live map: units that stopped reporting turn stale, and trails
    // lose the fixes that are now older than their window.
    tick() {
      for (const entry of index.entries.values()) restyle(entry);
      trimTrails();
      changed(null);
    },
    // For the unit list: each unit drawn, with whether it is stale now.
    list: () => [...index.entries.values()].map((entry) => ({ feature: entry.feature, stale: isStale(entry) })),
    latLng: (id) => index.get(id)?.marker.getLatLng() || null,
    trailLength: (id) => trails.get(Number(id))?.points.length || 0,
    // `listener(id)` after a unit changed (id null: many may have, e.g. after a reload).
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
