// Open alerts that have a location (hotlist hits, gunshots, panic buttons, sensors).
import { el, infoCard } from "../dom.js";
import { formatAge, formatDateTime, titleCase } from "../format.js";
import { L } from "../leaflet.js";
import { PAGE_SIZE, elementMarker, pointLatLng, popupOptions, textTooltip } from "./common.js";

export function createAlertsLayer({ api }) {
  const group = L.layerGroup();

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const marker = elementMarker(latlng, el("div", { className: "alert-glyph", text: "!" }), {
      className: `alert-marker kind-${props.kind}`,
      pane: "alerts",
    });
    textTooltip(marker, props.title || titleCase(props.kind));
    marker.bindPopup(() => infoCard(props.title || "Alert", [
      ["Kind", titleCase(props.kind)],
      ["Raised", `${formatDateTime(props.raised_at)} · ${formatAge(props.raised_at)}`],
      ["Detail", props.detail],
    ], { className: "alert-card" }), popupOptions());
    return marker;
  }

  return {
    id: "alerts",
    label: "Open alerts",
    perm: "view_layers",
    group,
    legend: [{ label: "Needs acknowledgement", className: "swatch-square alert" }],
    async load({ bbox, signal }) {
      const { features, truncated } = await api.getFeatures(
        "alerts/", { in_bbox: bbox, status: "open", page_size: PAGE_SIZE }, { signal },
      );
      group.clearLayers();
      let placed = 0;
      for (const feature of features) {
        const marker = build(feature);
        if (marker) {
          group.addLayer(marker);
          placed += 1;
        }
      }
      const unplaced = features.length - placed;
      return { count: features.length, truncated, note: unplaced ? `${unplaced} without location` : "" };
    },
  };
}
