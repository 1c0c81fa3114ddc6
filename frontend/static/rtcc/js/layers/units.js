// Field units at their last AVL position, labelled with the call sign and coloured by status.
// Live updates move the same marker and restyle it in place.
import { el, infoCard } from "../dom.js";
import { ageSeconds, formatAge, titleCase } from "../format.js";
import { L } from "../leaflet.js";
import {
  PAGE_SIZE,
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

export function createUnitsLayer({ api, config }) {
  const group = L.layerGroup();
  const index = createIndex();
  let truncated = false;

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
    group.addLayer(entry.marker);
  }

  function restyle(entry) {
    const props = entry.feature.properties || {};
    const stale = isStale(entry);
    const next = look(props, stale);
    if (next === entry.look) return;
    entry.look = next;
    replaceIcon(entry.marker, iconFor(props, stale));
  }

  function remove(id) {
    return removeEntry(index, group, id);
  }

  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    const latlng = pointLatLng(feature);
    if (!latlng) return remove(id); // no position any more: nothing to draw
    const entry = index.get(id);
    if (!entry) {
      add(feature, latlng);
      return true;
    }
    entry.feature = feature;
    entry.staleAt = staleAt(feature.properties || {});
    if (!entry.marker.getLatLng().equals(latlng)) entry.marker.setLatLng(latlng);
    restyle(entry);
    return true;
  }

  function summary() {
    const available = index.features().filter((f) => f.properties?.status === "available").length;
    return { count: index.size, truncated, note: `${available} available` };
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
    ],
    async load({ bbox, signal }) {
      const result = await api.getFeatures("units/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal });
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    // Called every few seconds on a live map: units that stopped reporting turn stale.
    tick() {
      for (const entry of index.entries.values()) restyle(entry);
    },
  };
}
