// Acoustic gunshot detections of the last hours; the most recent ones pulse.
import { el, infoCard } from "../dom.js";
import { ageSeconds, formatAge, formatDateTime, roundsText } from "../format.js";
import { L } from "../leaflet.js";
import {
  PAGE_SIZE,
  createIndex,
  elementMarker,
  featureId,
  hoursAgoIso,
  olderThan,
  pointLatLng,
  popupOptions,
  removeEntry,
  sameFeature,
  syncIndex,
  tagElement,
  textTooltip,
} from "./common.js";

const FRESH_SECONDS = 15 * 60;

export function createGunshotsLayer({ api, config }) {
  const group = L.layerGroup();
  const index = createIndex();
  let truncated = false;

  function isFresh(props) {
    const age = ageSeconds(props.detected_at);
    return age !== null && age < FRESH_SECONDS;
  }

  function build(entry) {
    const latlng = pointLatLng(entry.feature);
    if (!latlng) return null;
    const props = entry.feature.properties || {};
    entry.fresh = isFresh(props);
    const glyph = el("div", { className: "gunshot-glyph" }, [
      el("span", { className: "gunshot-rounds", text: props.rounds === null ? "×?" : props.rounds > 1 ? `×${props.rounds}` : "" }),
    ]);
    const marker = elementMarker(latlng, glyph, {
      className: `gunshot-marker${entry.fresh ? " fresh" : ""}`,
      pane: "gunshots",
    });
    tagElement(marker, { "data-gunshot-id": entry.feature.id });
    textTooltip(marker, () => `Gunshot · ${formatAge(entry.feature.properties?.detected_at)}`);
    marker.bindPopup(() => {
      const p = entry.feature.properties || {};
      return infoCard("Gunshot detection", [
        ["Detected", `${formatDateTime(p.detected_at)} · ${formatAge(p.detected_at)}`],
        ["Rounds", roundsText(p.rounds)],
        ["Confidence", Number.isFinite(p.confidence) ? `${Math.round(p.confidence * 100)}%` : ""],
        ["Source", p.source],
        ["Flag", p.attributes?.service_area],
      ], { className: "gunshot-card" });
    }, popupOptions());
    return marker;
  }

  function add(feature) {
    const entry = { feature };
    entry.marker = build(entry);
    if (!entry.marker) return null;
    index.set(feature.id, entry);
    group.addLayer(entry.marker);
    return entry;
  }

  function remove(id) {
    return removeEntry(index, group, id);
  }

  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    const current = index.get(id);
    if (current && sameFeature(current.feature, feature) && current.fresh === isFresh(feature.properties || {})) {
      return true;
    }
    const existed = remove(id);
    if (olderThan(feature.properties?.detected_at, config.gunshotLookbackHours)) return existed;
    return Boolean(add(feature)) || existed;
  }

  function summary() {
    return { count: index.size, truncated };
  }

  return {
    id: "gunshots",
    live: "gunshots",
    label: "Gunshots",
    perm: "view_layers",
    group,
    legend: [{ label: `Last ${config.gunshotLookbackHours} h`, className: "swatch-dot gunshot" }],
    async load({ bbox, signal }) {
      const result = await api.getFeatures("gunshots/", {
        in_bbox: bbox, since: hoursAgoIso(config.gunshotLookbackHours), page_size: PAGE_SIZE,
      }, { signal });
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    // Detections stop pulsing after a while and leave the map after the look-back window.
    tick() {
      for (const entry of [...index.entries.values()]) {
        const props = entry.feature.properties || {};
        if (olderThan(props.detected_at, config.gunshotLookbackHours)) remove(entry.feature.id);
        else if (entry.fresh && !isFresh(props)) upsert(entry.feature);
      }
    },
  };
}
