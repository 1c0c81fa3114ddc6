// Acoustic gunshot detections of the last hours; the most recent ones pulse.
import { el, infoCard } from "../dom.js";
import { ageSeconds, formatAge, formatDateTime } from "../format.js";
import { L } from "../leaflet.js";
import { PAGE_SIZE, elementMarker, hoursAgoIso, pointLatLng, popupOptions, textTooltip } from "./common.js";

const FRESH_SECONDS = 15 * 60;

export function createGunshotsLayer({ api, config }) {
  const group = L.layerGroup();

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const age = ageSeconds(props.detected_at);
    const fresh = age !== null && age < FRESH_SECONDS;
    const glyph = el("div", { className: "gunshot-glyph" }, [
      el("span", { className: "gunshot-rounds", text: props.rounds > 1 ? `×${props.rounds}` : "" }),
    ]);
    const marker = elementMarker(latlng, glyph, {
      className: `gunshot-marker${fresh ? " fresh" : ""}`,
      pane: "gunshots",
    });
    textTooltip(marker, `Gunshot · ${formatAge(props.detected_at)}`);
    marker.bindPopup(() => infoCard("Gunshot detection", [
      ["Detected", `${formatDateTime(props.detected_at)} · ${formatAge(props.detected_at)}`],
      ["Rounds", props.rounds],
      ["Confidence", Number.isFinite(props.confidence) ? `${Math.round(props.confidence * 100)}%` : ""],
      ["Source", props.source],
    ], { className: "gunshot-card" }), popupOptions());
    return marker;
  }

  return {
    id: "gunshots",
    label: "Gunshots",
    perm: "view_layers",
    group,
    legend: [{ label: `Last ${config.gunshotLookbackHours} h`, className: "swatch-dot gunshot" }],
    async load({ bbox, signal }) {
      const { features, truncated } = await api.getFeatures("gunshots/", {
        in_bbox: bbox, since: hoursAgoIso(config.gunshotLookbackHours), page_size: PAGE_SIZE,
      }, { signal });
      group.clearLayers();
      for (const feature of features) {
        const marker = build(feature);
        if (marker) group.addLayer(marker);
      }
      return { count: features.length, truncated };
    },
  };
}
