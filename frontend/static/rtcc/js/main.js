// The map page: builds the map from the json_script config, loads every layer for the current
// viewport over REST, and keeps it current from the live WebSocket (live.js). When the socket is
// down the page falls back to reloading itself every minute.
import { createAlertCue } from "./alert-cue.js";
import { createAlertQueue } from "./alert-queue.js";
import { createApi, isAbort } from "./api.js";
import { addBasemap } from "./basemap.js";
import { createCameraDock } from "./camera-dock.js";
import { el } from "./dom.js";
import { formatClock, formatTime, setTimeZone } from "./format.js";
import { createHistoryTilesLayer } from "./history-tiles.js";
import { createHotspotsPanel } from "./hotspots-panel.js";
import { createIncidentPanel } from "./incident-panel.js";
import { createKeyboard } from "./keyboard.js";
import { createLayerPanel } from "./layer-panel.js";
import { L } from "./leaflet.js";
import { createAlertsLayer } from "./layers/alerts.js";
import { createAlprHitsLayer, createAlprSitesLayer } from "./layers/alpr.js";
import { createCamerasLayer } from "./layers/cameras.js";
import { createGunshotsLayer } from "./layers/gunshots.js";
import { createIncidentsLayer } from "./layers/incidents.js";
import { createUnitsLayer } from "./layers/units.js";
import { createZonesLayer } from "./layers/zones.js";
import { createLive } from "./live.js";
import { createPlayback } from "./playback.js";
import { createUnitList } from "./unit-list.js";
import { createSearch } from "./search.js";

const MOVE_DEBOUNCE_MS = 300;
// Polling fallback, only while the live socket is down.
const REFRESH_MS = 60 * 1000;
// While live, a full reload this often anyway: it settles anything a message cannot say (a unit
// that left the view without a last update inside it, records changed outside the services).
const RECONCILE_MS = 10 * 60 * 1000;
// Time-based looks (stale units, fading gunshots, expiring hits) are re-checked this often.
const TICK_MS = 15 * 1000;
// How long the first load waits for the socket before it loads over REST anyway.
const FIRST_LOAD_WAIT_MS = 2500;
// Live subscriptions cover a margin around the viewport, so what is just outside it still moves.
const LIVE_BBOX_PAD = 0.25;
// Drawing order, bottom to top; Leaflet's own marker pane (600) and tooltips/popups stay above.
const PANES = [
  ["zones", 350], ["zoneLabels", 360], ["cameraViews", 380], ["cameras", 420], ["alpr", 430],
  ["gunshots", 440], ["units", 450], ["alerts", 460], ["incidents", 470],
];
const LIVE_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

const config = JSON.parse(document.getElementById("rtcc-config").textContent);
setTimeZone(config.timeZone);
const api = createApi(config);
const statusLine = document.getElementById("status-line");
const liveBadge = document.getElementById("live-state");
const clock = document.getElementById("clock");
const root = document.documentElement;

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
addBasemap(map, config);

const dock = createCameraDock({ api });
const incidentPanel = createIncidentPanel(document.getElementById("side-panel"), {
  api,
  config,
  dock,
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
const alerts = createAlertsLayer(ctx);
const units = createUnitsLayer(ctx);
createSearch(document.getElementById("search"), { api, config, map, selectIncident: (feature) => ctx.onSelect(feature) });
const layers = [
  createZonesLayer(ctx),
  createCamerasLayer(ctx),
  createAlprSitesLayer(ctx),
  createAlprHitsLayer(ctx),
  createGunshotsLayer(ctx),
  alerts,
  units,
  incidents,
  createHistoryTilesLayer(ctx),
];
// Frontend layer by the live layer name it carries (apps/live/layers.py).
const liveLayers = new Map(layers.filter((layer) => layer.live).map((layer) => [layer.live, layer]));

const inFlight = new Map();
const panel = createLayerPanel(document.getElementById("layer-panel"), layers, {
  onToggle(layer, on) {
    if (on) {
      layer.group.addTo(map);
      reload(() => loadLayer(layer)).then(reportStatus);
    } else {
      inFlight.get(layer.id)?.abort();
      map.removeLayer(layer.group);
    }
  },
});

function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}

// The viewport (optionally padded by a fraction of its size) as [minlon, minlat, maxlon, maxlat],
// kept inside valid ranges.
function viewportBounds(pad = 0) {
  const b = pad ? map.getBounds().pad(pad) : map.getBounds();
  return [
    clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
    clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
  ];
}

// The API's in_bbox (minlon,minlat,maxlon,maxlat).
function viewportBbox() {
  return viewportBounds().map((v) => v.toFixed(6)).join(",");
}

const failures = new Set();
let loadedOnce = false;

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
    failures.size ? el("span", { className: "status-dot bad" }) : "",
    failures.size ? `${failures.size} layer(s) failed to load` : `Updated ${formatTime(new Date().toISOString())}`,
  );
  root.dataset.rtccState = "ready";
}

async function loadAll() {
  loadedOnce = true;
  root.dataset.rtccState = "loading";
  await Promise.all(layers.map(loadLayer));
  reportStatus();
}

// Every REST reload goes through the live connection, which holds back live messages meanwhile.
function reload(run) {
  return live ? live.reload(run) : run();
}

function reloadAll() {
  return reload(loadAll);
}

// ---- live updates ---------------------------------------------------------------------------

const cue = createAlertCue({
  counter: document.getElementById("alert-counter"),
  soundToggle: document.getElementById("sound-toggle"),
  toggle: (ids) => alertQueue.toggle(ids),
  sound: Boolean(config.live),
});
const alertQueue = createAlertQueue({ api, config, map, dock, alertsLayer: alerts, onCount: (n) => cue.setPending(n) });

function showLiveState(state, detail) {
  liveBadge.hidden = false;
  liveBadge.dataset.state = state;
  liveBadge.title = detail || (state === "live" ? "Receiving live updates" : "Live updates paused; the map reloads every minute");
  liveBadge.replaceChildren(el("span", { className: "live-dot", attrs: { "aria-hidden": "true" } }), LIVE_LABELS[state] || state);
  root.dataset.live = state;
  // The first connection attempt failed: load over REST now rather than at the first-load timeout.
  if (state === "reconnecting" || state === "offline") firstLoad();
}

function syncIncidentPanel(message, id) {
  if (incidentPanel.incidentId === null || Number(incidentPanel.incidentId) !== Number(id)) return;
  if (message.type === "feature.removed") incidentPanel.markRemoved();
  else incidentPanel.update(message.feature);
}

function applyLive(message) {
  const removed = message.type === "feature.removed";
  const id = removed ? message.id : message.feature?.id;
  if (id === undefined || id === null) return;
  const layer = liveLayers.get(message.layer);
  const enabled = layer && panel.isEnabled(layer.id);
  const isNewAlert = message.type === "alert.raised" && !alerts.has(id);
  if (enabled) {
    const wasShown = layer.has(id);
    if (removed) layer.remove(id);
    else layer.upsert(message.feature);
    // Something new on the map gets a brief cue (a raised alert rings, a hotlist hit blinks).
    if (!wasShown && layer.has(id)) layer.highlight?.(id);
    if (!inFlight.has(layer.id) && !failures.has(layer.id)) panel.setState(layer.id, layer.summary());
  }
  if (message.layer === "alerts") {
    alertQueue.apply(message);
    if (isNewAlert && message.feature?.properties?.status === "open") {
      cue.raised(message.feature);
    } else if (removed || message.feature?.properties?.status !== "open") {
      cue.cleared(id);
    }
  }
  if (message.layer === "incidents") syncIncidentPanel(message, id);
  if (!failures.size) {
    statusLine.replaceChildren(`Updated ${formatTime(new Date().toISOString())}`);
  }
}

const live = config.live
  ? createLive({
    url: config.live.url,
    layers: config.live.layers,
    bbox: () => {
      const [w, s, e, n] = viewportBounds(LIVE_BBOX_PAD);
      return w < e && s < n ? [w, s, e, n] : null;
    },
    reloadLayers: loadAll,
    apply: applyLive,
    onState: showLiveState,
    onSignedOut: () => api.toLogin(),
  })
  : null;

createPlayback({ api, config, map, button: document.getElementById("playback-button") });
createHotspotsPanel(document.getElementById("hotspots-panel"), { api, config, map });

// ---- unit list and keyboard shortcuts ------------------------------------------------------

const unitList = createUnitList({ map, units, statuses: config.unitStatuses });
createKeyboard({
  incidents,
  isEnabled: () => panel.isEnabled(incidents.id),
  current: () => incidentPanel.incidentId,
  select(feature) {
    ctx.onSelect(feature);
    incidents.reveal(feature.id); // out of its cluster, if it is in one
  },
  unitList,
});

// ---- map wiring -----------------------------------------------------------------------------

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
  root.dataset.rtccState = "moving";
});
map.on("moveend", () => {
  window.clearTimeout(moveTimer);
  root.dataset.rtccState = "moving";
  live?.viewChanged();
  moveTimer = window.setTimeout(reloadAll, MOVE_DEBOUNCE_MS);
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

// Without a live socket the wall refreshes itself; with one it only reconciles now and then.
window.setInterval(() => {
  if (!document.hidden && !live?.connected) reloadAll();
}, REFRESH_MS);
if (live) {
  window.setInterval(() => {
    if (!document.hidden && live.connected) reloadAll();
  }, RECONCILE_MS);
}
window.setInterval(() => {
  for (const layer of layers) {
    if (!layer.tick || !panel.isEnabled(layer.id)) continue;
    layer.tick();
    if (!inFlight.has(layer.id) && !failures.has(layer.id)) panel.setState(layer.id, layer.summary());
  }
}, TICK_MS);

function firstLoad() {
  if (loadedOnce) return;
  reloadAll().catch((error) => console.error("rtcc: first load failed", error));
}

if (live) {
  // The first `subscribed` triggers the first load (the feed's head is then known); if the socket
  // is slow or down, the map loads over REST anyway.
  live.start();
  window.setTimeout(firstLoad, FIRST_LOAD_WAIT_MS);
} else {
  firstLoad();
}
