// Open alerts that have a location (hotlist hits, gunshots, panic buttons, sensors). An alert
// raised live appears with a pulse; one acknowledged (here or by anyone else) or closed (cancelled
// by its source, expired) leaves the layer. An alert with an area (CAP polygons, circles, zones
// matched by geocode: properties.area, a GeoJSON MultiPolygon) is drawn as that area too.
import { createAckForm } from "../ack-form.js";
import { el, infoCard } from "../dom.js";
import { formatAge, formatDateTime, titleCase } from "../format.js";
import { L } from "../leaflet.js";
import {
  PAGE_SIZE, createIndex, elementMarker, featureId, flash, pointLatLng, popupOptions, syncIndex, tagElement,
  textTooltip,
} from "./common.js";

export function createAlertsLayer({ api, config }) {
  const group = L.layerGroup();
  const index = createIndex(); // open alerts, placed or not (the header counts those without a place too)
  const canAck = config.user.perms.includes("ack_alerts");
  let truncated = false;
  // Acknowledged from the alert queue (ack-form.js): off the map now, not at the live update.
  document.addEventListener("rtcc:alert-acknowledged", (event) => upsert(event.detail.feature));

  function card(entry) {
    const props = entry.feature.properties || {};
    const body = infoCard(props.title || "Alert", [
      ["Kind", titleCase(props.kind)],
      ["Raised", `${formatDateTime(props.raised_at)} · ${formatAge(props.raised_at)}`],
      ["Detail", props.detail],
      ["Area", props.area_desc],
      ["Expires", props.expires_at ? formatDateTime(props.expires_at) : ""],
    ], { className: "alert-card" });
    if (canAck) body.append(createAckForm({ api, alert: entry.feature, onDone: upsert, onGone: remove }));
    return body;
  }

  function areaKey(feature) {
    return JSON.stringify(feature.properties?.area || null);
  }

  function add(feature) {
    const entry = { feature, marker: null, area: null };
    const area = feature.properties?.area;
    if (area && area.type === "MultiPolygon") {
      entry.area = L.geoJSON(area, { pane: "alerts", className: `alert-area kind-${feature.properties.kind}` });
      entry.area.eachLayer((part) => tagElement(part, { "data-alert-area-id": feature.id }));
      textTooltip(entry.area, () => entry.feature.properties?.title || titleCase(entry.feature.properties?.kind));
      entry.area.bindPopup(() => card(entry), popupOptions());
      group.addLayer(entry.area);
    }
    const latlng = pointLatLng(feature);
    if (latlng) {
      const props = feature.properties || {};
      entry.marker = elementMarker(latlng, el("div", { className: "alert-glyph", text: "!" }), {
        className: `alert-marker kind-${props.kind}`,
        pane: "alerts",
      });
      tagElement(entry.marker, { "data-alert-id": feature.id });
      textTooltip(entry.marker, () => entry.feature.properties?.title || titleCase(entry.feature.properties?.kind));
      entry.marker.bindPopup(() => card(entry), popupOptions());
      group.addLayer(entry.marker);
    }
    index.set(feature.id, entry);
    return entry;
  }

  function remove(id) {
    const entry = index.get(id);
    if (!entry) return false;
    for (const layer of [entry.marker, entry.area]) {
      if (!layer) continue;
      layer.closePopup();
      group.removeLayer(layer);
    }
    index.delete(id);
    return true;
  }

  // Any alert state: an open one is shown (or updated), any other status leaves "open alerts".
  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    if ((feature.properties || {}).status !== "open") return remove(id);
    const existing = index.get(id);
    if (existing) {
      const samePlace = Boolean(existing.marker) === Boolean(pointLatLng(feature))
        && (!existing.marker || existing.marker.getLatLng().equals(pointLatLng(feature)));
      const sameArea = areaKey(existing.feature) === areaKey(feature);
      if (samePlace && sameArea && existing.feature.properties?.kind === feature.properties?.kind) {
        existing.feature = feature;
        return true;
      }
      remove(id);
    }
    add(feature);
    return true;
  }

  function summary() {
    const unplaced = [...index.entries.values()].filter((entry) => !entry.marker).length;
    return { count: index.size, truncated, note: unplaced ? `${unplaced} without location` : "" };
  }

  return {
    id: "alerts",
    live: "alerts",
    label: "Open alerts",
    perm: "view_layers",
    group,
    legend: [{ label: "Needs acknowledgement", className: "swatch-square alert" }],
    async load({ bbox, signal }) {
      const result = await api.getFeatures(
        "alerts/", { in_bbox: bbox, status: "open", page_size: PAGE_SIZE }, { signal },
      );
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    // A newly raised alert: pulse its marker so the eye finds it.
    highlight(id) {
      const entry = index.get(id);
      if (entry?.marker) flash(entry.marker, "live-raised", 8000);
    },
  };
}
