// The map page: builds the map from the json_script config, loads every layer for the current
// viewport, and reloads them when the view settles.
import { createApi, isAbort } from "./api.js";
import { el } from "./dom.js";
import { formatClock, formatTime, setTimeZone } from "./format.js";
import { createIncidentPanel } from "./incident-panel.js";
import { createLayerPanel } from "./layer-panel.js";
import { L } from "./leaflet.js";
import { createAlertsLayer } from "./layers/alerts.js";
import { createAlprHitsLayer, createAlprSitesLayer } from "./layers/alpr.js";
import { createCamerasLayer } from "./layers/cameras.js";
import { createGunshotsLayer } from "./layers/gunshots.js";
import { createIncidentsLayer } from "./layers/incidents.js";
import { createUnitsLayer } from "./layers/units.js";
import { createZonesLayer } from "./layers/zones.js";

const MOVE_DEBOUNCE_MS = 300;
const REFRESH_MS = 60 * 1000;
// Drawing order, bottom to top; Leaflet's own marker pane (600) and tooltips/popups stay above.
const PANES = [
  ["zones", 350], ["zoneLabels", 360], ["cameraViews", 380], ["cameras", 420], ["alpr", 430],
  ["gunshots", 440], ["units", 450], ["alerts", 460], ["incidents", 470],
];

const config = JSON.parse(document.getElementById("rtcc-config").textContent);
setTimeZone(config.timeZone);
const api = createApi(config);
const statusLine = document.getElementById("status-line");
const clock = document.getElementById("clock");

function tickClock() {
  clock.textContent = formatClock(new Date());
}
tickClock();
window.setInterval(tickClock, 1000);

const map = L.map("map", {
  center: config.center,
  zoom: config.zoom,
  minZoom: config.minZoom,
  maxZoom: config.maxZoom,
  zoomControl: false,
  attributionControl: config.tiles.length > 0,
});
L.control.zoom({ position: "bottomleft" }).addTo(map);
L.control.scale({ position: "bottomleft", metric: true, imperial: true }).addTo(map);
for (const [name, zIndex] of PANES) {
  map.createPane(name).style.zIndex = String(zIndex);
}
if (config.tiles.length > 0) {
  map.attributionControl.setPrefix(false);
  const [first] = config.tiles;
  L.tileLayer(first.url, { attribution: first.attribution, maxZoom: config.maxZoom }).addTo(map);
} else {
  map.getContainer().classList.add("no-tiles");
}

const incidentPanel = createIncidentPanel(document.getElementById("side-panel"), {
  api,
  config,
  onClose: () => incidents.select(null),
});
const ctx = {
  api,
  config,
  map,
  onSelect(feature) {
    incidents.select(feature.id);
    incidentPanel.show(feature);
    // Keep the incident in sight beside the panel (and clear of the layer list).
    const [lon, lat] = feature.geometry.coordinates;
    const side = document.getElementById("side-panel").offsetWidth + 36;
    const left = document.getElementById("layer-panel").offsetWidth + 36;
    map.panInside([lat, lon], { paddingTopLeft: [left, 40], paddingBottomRight: [side, 40] });
  },
};
const incidents = createIncidentsLayer(ctx);
const layers = [
  createZonesLayer(ctx),
  createCamerasLayer(ctx),
  createAlprSitesLayer(ctx),
  createAlprHitsLayer(ctx),
  createGunshotsLayer(ctx),
  createAlertsLayer(ctx),
  createUnitsLayer(ctx),
  incidents,
];

const inFlight = new Map();
const panel = createLayerPanel(document.getElementById("layer-panel"), layers, {
  onToggle(layer, on) {
    if (on) {
      layer.group.addTo(map);
      loadLayer(layer).then(reportStatus);
    } else {
      inFlight.get(layer.id)?.abort();
      map.removeLayer(layer.group);
    }
  },
});

function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}

// The viewport as the API's in_bbox (minlon,minlat,maxlon,maxlat), kept inside valid ranges.
function viewportBbox() {
  const b = map.getBounds();
  const values = [
    clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
    clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
  ];
  return values.map((v) => v.toFixed(6)).join(",");
}

const failures = new Set();

async function loadLayer(layer) {
  if (!panel.isEnabled(layer.id)) return;
  inFlight.get(layer.id)?.abort();
  const controller = new AbortController();
  inFlight.set(layer.id, controller);
  panel.setState(layer.id, { loading: true });
  try {
    const result = await layer.load({ bbox: viewportBbox(), zoom: map.getZoom(), signal: controller.signal });
    failures.delete(layer.id);
    panel.setState(layer.id, { loading: false, ...result });
  } catch (error) {
    if (isAbort(error)) return;
    if (error.forbidden) {
      map.removeLayer(layer.group);
      const note = layer.deniedNote || "Not available for your role";
      panel.setState(layer.id, { loading: false, denied: true, note });
      return;
    }
    failures.add(layer.id);
    panel.setState(layer.id, { loading: false, error: `Could not load: ${error.message}` });
  } finally {
    if (inFlight.get(layer.id) === controller) inFlight.delete(layer.id);
  }
}

function reportStatus() {
  if (inFlight.size > 0) return;
  statusLine.replaceChildren(
    el("span", { className: failures.size ? "status-dot bad" : "status-dot good" }),
    failures.size ? `${failures.size} layer(s) failed to load` : `Updated ${formatTime(new Date().toISOString())}`,
  );
  document.documentElement.dataset.rtccState = "ready";
}

async function loadAll() {
  document.documentElement.dataset.rtccState = "loading";
  await Promise.all(layers.map(loadLayer));
  reportStatus();
}

for (const layer of layers) {
  if (!config.user.perms.includes(layer.perm)) {
    panel.setState(layer.id, { denied: true, note: layer.deniedNote || "Not available for your role" });
    continue;
  }
  if (panel.isEnabled(layer.id)) layer.group.addTo(map);
}

let moveTimer = null;
map.on("movestart", () => {
  window.clearTimeout(moveTimer);
  document.documentElement.dataset.rtccState = "moving";
});
map.on("moveend", () => {
  window.clearTimeout(moveTimer);
  document.documentElement.dataset.rtccState = "moving";
  moveTimer = window.setTimeout(loadAll, MOVE_DEBOUNCE_MS);
});
// CSS sizes symbols by how far out the view is (city, district, street).
function markZoomBand() {
  const zoom = map.getZoom();
  map.getContainer().dataset.zoomBand = zoom < 13 ? "far" : zoom < 15 ? "mid" : "near";
}
markZoomBand();
map.on("zoomend", () => {
  markZoomBand();
  const zoom = map.getZoom();
  for (const layer of layers) layer.onZoom?.(zoom);
});
// Live updates arrive in a later release; until then the wall refreshes itself.
window.setInterval(() => {
  if (!document.hidden) loadAll();
}, REFRESH_MS);

loadAll().catch((error) => console.error("rtcc: first load failed", error));
