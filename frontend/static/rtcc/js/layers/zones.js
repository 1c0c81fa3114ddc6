// Beats and districts drawn as outlines: with no tile server configured they are the basemap.
import { el } from "../dom.js";
import { L } from "../leaflet.js";
import { PAGE_SIZE } from "./common.js";

// District names label the city view; beat codes take over once they are readable.
const BEAT_LABEL_MIN_ZOOM = 14;
const STYLES = {
  beat: { color: "#3d5a78", weight: 1, opacity: 0.9, fillColor: "#132131", fillOpacity: 0.35, className: "zone beat" },
  district: { color: "#6f93b8", weight: 2.5, opacity: 0.85, fill: false, className: "zone district" },
};

export function createZonesLayer({ api, map }) {
  const shapes = L.layerGroup();
  const beatLabels = L.layerGroup();
  const districtLabels = L.layerGroup();
  const group = L.layerGroup([shapes, districtLabels]);

  function showLabels(zoom) {
    const beats = zoom >= BEAT_LABEL_MIN_ZOOM;
    const [on, off] = beats ? [beatLabels, districtLabels] : [districtLabels, beatLabels];
    if (!group.hasLayer(on)) group.addLayer(on);
    if (group.hasLayer(off)) group.removeLayer(off);
  }

  function label(layer, kind, text) {
    const center = layer.getBounds().getCenter();
    const icon = L.divIcon({
      className: `zone-label ${kind}`,
      html: el("span", { text }),
      iconSize: [0, 0],
    });
    return L.marker(center, { icon, pane: "zoneLabels", interactive: false, keyboard: false });
  }

  function draw(features, kind) {
    for (const feature of features) {
      if (!feature.geometry) continue;
      const layer = L.geoJSON(feature, { pane: "zones", interactive: false, style: STYLES[kind] });
      shapes.addLayer(layer);
      const code = feature.properties?.code || "";
      if (code) (kind === "beat" ? beatLabels : districtLabels).addLayer(label(layer, kind, code));
    }
  }

  return {
    id: "zones",
    label: "Beats & districts",
    perm: "view_layers",
    group,
    legend: [
      { label: "Beat", className: "swatch-line beat" },
      { label: "District", className: "swatch-line district" },
    ],
    async load({ bbox, signal }) {
      const params = { in_bbox: bbox, page_size: PAGE_SIZE };
      const [beats, districts] = await Promise.all([
        api.getFeatures("zones/", { ...params, kind: "beat" }, { signal }),
        api.getFeatures("zones/", { ...params, kind: "district" }, { signal }),
      ]);
      shapes.clearLayers();
      beatLabels.clearLayers();
      districtLabels.clearLayers();
      draw(beats.features, "beat");
      draw(districts.features, "district");
      showLabels(map.getZoom());
      return {
        count: beats.features.length + districts.features.length,
        truncated: beats.truncated || districts.truncated,
        note: `${beats.features.length} beats · ${districts.features.length} districts`,
      };
    },
    onZoom: showLabels,
  };
}
