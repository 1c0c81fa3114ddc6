// Incident history as vector tiles (/api/tiles/incidents_history/): every recorded call, drawn by
// the browser from tiles PostGIS builds. Below zoom 16 the server sends one dot per pixel-sized
// cell with its count and most urgent priority, so a million calls stay a light tile.
import { L } from "./leaflet.js";

const PANE = "history";
const PANE_Z = 340; // above the basemap, under zones and every live layer
const PRIORITY_COLORS = ["#ff453a", "#ff9f0a", "#ffd60a", "#64d2ff", "#8e8e93"];

function color(priority) {
  return PRIORITY_COLORS[Math.min(Math.max((priority || 5) - 1, 0), PRIORITY_COLORS.length - 1)];
}

function incidentStyle(properties) {
  const count = properties.count || 1;
  const cell = properties.count !== undefined;
  return {
    radius: cell ? Math.min(1.5 + Math.log2(count) * 1.2, 9) : 3,
    fill: true,
    fillColor: color(properties.priority),
    fillOpacity: cell ? 0.55 : 0.75,
    stroke: !cell,
    color: "#05080c",
    weight: 0.6,
  };
}

export function createHistoryTilesLayer({ config, map }) {
  if (!map.getPane(PANE)) map.createPane(PANE).style.zIndex = String(PANE_Z);
  const url = `${config.apiBase}tiles/incidents_history/{z}/{x}/{y}.mvt`;
  const group = L.vectorGrid.protobuf(url, {
    pane: PANE,
    rendererFactory: L.canvas.tile,
    interactive: false, // see basemap.js: VectorGrid 1.3 clicks throw under Leaflet 1.9
    maxNativeZoom: 18,
    maxZoom: config.maxZoom,
    fetchOptions: { credentials: "same-origin" },
    vectorTileLayerStyles: { incidents: incidentStyle },
  });
  return {
    id: "history",
    label: "Incident history",
    perm: "view_analytics",
    defaultOff: true,
    group,
    legend: [
      { label: "P1", className: "swatch-dot priority-1" },
      { label: "P2", className: "swatch-dot priority-2" },
      { label: "P3+", className: "swatch-dot priority-3" },
      { label: "Grouped: size by count", className: "swatch-dot history-cell" },
    ],
    deniedNote: "Needs the analytics permission",
    // Tiles load themselves as the map moves; nothing to fetch here.
    async load() {
      return { note: "All recorded incidents, as vector tiles" };
    },
  };
}
