// Helpers shared by the layer modules.
import { L } from "../leaflet.js";

export const PAGE_SIZE = 1000;

// Leaflet's [lat, lng] for a GeoJSON Point feature, or null when it has no usable position.
export function pointLatLng(feature) {
  const geometry = feature && feature.geometry;
  if (!geometry || geometry.type !== "Point" || !Array.isArray(geometry.coordinates)) return null;
  const [lon, lat] = geometry.coordinates;
  if (!Number.isFinite(lon) || !Number.isFinite(lat)) return null;
  return L.latLng(lat, lon);
}

export function hoursAgoIso(hours) {
  return new Date(Date.now() - hours * 3600 * 1000).toISOString();
}

// A marker whose icon is an element built here (CSS places it; the anchor is the 0x0 box).
export function elementMarker(latlng, element, { className, pane, zIndexOffset = 0 } = {}) {
  const icon = L.divIcon({ className, html: element, iconSize: [0, 0], iconAnchor: [0, 0] });
  return L.marker(latlng, { icon, pane, keyboard: false, zIndexOffset, riseOnHover: true });
}

// Leaflet puts string content in with innerHTML, so tooltips always get an element. `text` may be
// a function: it is then called each time the tooltip opens (ages stay current on a live map).
export function textTooltip(layer, text) {
  const content = () => {
    const node = document.createElement("span");
    node.textContent = typeof text === "function" ? text() : text;
    return node;
  };
  return layer.bindTooltip(typeof text === "function" ? content : content(), tooltipOptions());
}

export function tooltipOptions() {
  return { direction: "top", offset: [0, -8], className: "rtcc-tooltip", opacity: 1 };
}

export function popupOptions() {
  return { className: "rtcc-popup", maxWidth: 320, autoPanPadding: [60, 60] };
}

// Put `attributes` on a layer's element once it is on the map (and again after applyTags), so
// tests and live updates can find it.
export function tagElement(layer, attributes) {
  layer.rtccTags = { ...(layer.rtccTags || {}), ...attributes };
  layer.on("add", () => applyTags(layer));
  return layer;
}

export function applyTags(layer) {
  const node = layer.getElement && layer.getElement();
  if (!node || !layer.rtccTags) return;
  for (const [name, value] of Object.entries(layer.rtccTags)) node.setAttribute(name, String(value));
}

// Swap a marker's icon in place (same marker, same position, popup kept) and keep its tags.
export function replaceIcon(marker, icon) {
  marker.setIcon(icon);
  applyTags(marker);
}

// Briefly mark a feature that just arrived or changed (CSS draws the cue).
export function flash(layer, className = "live-flash", ms = 6000) {
  const node = layer.getElement && layer.getElement();
  if (!node) return;
  node.classList.remove(className);
  // Restart the animation when the same feature flashes twice in a row.
  void node.getBoundingClientRect();
  node.classList.add(className);
  window.setTimeout(() => node.classList.remove(className), ms);
}

// The id the REST API and the live messages give a feature (numbers; compared as such).
export function featureId(feature) {
  return feature && feature.id !== undefined && feature.id !== null ? Number(feature.id) : null;
}

// A per-layer index of what is drawn, by feature id: { feature, marker, ...extra }.
export function createIndex() {
  const entries = new Map();
  return {
    entries,
    get: (id) => entries.get(Number(id)),
    has: (id) => entries.has(Number(id)),
    set: (id, entry) => entries.set(Number(id), entry),
    delete: (id) => entries.delete(Number(id)),
    clear: () => entries.clear(),
    get size() {
      return entries.size;
    },
    features: () => [...entries.values()].map((entry) => entry.feature),
  };
}

// Take a feature's marker off the map and out of the index; false when it was not drawn.
export function removeEntry(index, group, id) {
  const entry = index.get(id);
  if (!entry) return false;
  group.removeLayer(entry.marker);
  index.delete(id);
  return true;
}

// Bring an index in line with a REST answer: every feature goes through the layer's upsert (so an
// unchanged feature keeps its marker, and an open popup stays open), and what the answer no longer
// has is removed.
export function syncIndex(index, features, { upsert, remove }) {
  const keep = new Set();
  for (const feature of features) {
    const id = featureId(feature);
    if (id === null) continue;
    keep.add(id);
    upsert(feature);
  }
  for (const id of [...index.entries.keys()]) {
    if (!keep.has(id)) remove(id);
  }
}

// Whether a feature is exactly what is drawn already (then there is nothing to redraw).
export function sameFeature(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Time-bounded layers (gunshots, hotlist hits) drop what is older than their window.
export function olderThan(iso, hours) {
  const time = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(time) && Date.now() - time > hours * 3600 * 1000;
}

// ---- clustering (leaflet.markercluster, loaded as a classic script after Leaflet) ---------------

// Options every clustered layer shares. No animations: a wall screen should not swim on each
// update, and incidents are circle markers, which markercluster's animations cannot move.
export const CLUSTER_OPTIONS = {
  animate: false,
  showCoverageOnHover: false,
  spiderfyOnMaxZoom: true,
  removeOutsideVisibleBounds: true,
  // Pixels: markers closer than this merge. Small enough that calls a block apart stay apart at the
  // city zoom; cameras a few metres apart still merge.
  maxClusterRadius: 40,
  chunkedLoading: true,
};

export function clusteringAvailable() {
  return typeof L.markerClusterGroup === "function";
}

// A marker cluster group for one layer: its cluster icons sit in the layer's own pane and clustering
// stops at `disableAt` (from there on every marker stands on its own, e.g. where camera cones show).
// `icon(cluster)` builds the cluster's element. A page that does not load the plugin (it is not
// needed to draw a handful of markers) gets a plain group.
// `classFor(cluster)` adds classes to it (e.g. the most urgent priority inside).
export function clusterGroup({ pane, disableAt, className, icon, classFor }) {
  if (!clusteringAvailable()) return L.featureGroup();
  return L.markerClusterGroup({
    ...CLUSTER_OPTIONS,
    clusterPane: pane,
    disableClusteringAtZoom: disableAt,
    iconCreateFunction: (cluster) => L.divIcon({
      className: `rtcc-cluster ${className} ${classFor ? classFor(cluster) : ""}`.trim(),
      html: icon ? icon(cluster) : clusterBadge(cluster.getChildCount()),
      iconSize: [36, 36],
      iconAnchor: [18, 18],
    }),
  });
}

// The usual cluster face: a round badge with the count.
export function clusterBadge(count, extra = []) {
  const node = document.createElement("div");
  node.className = "rtcc-cluster-badge";
  const text = document.createElement("span");
  text.className = "rtcc-cluster-count";
  text.textContent = String(count);
  node.append(text, ...extra);
  return node;
}

// Many markers at once: a cluster group clusters them in one pass.
export function addAll(group, markers) {
  if (typeof group.addLayers === "function") group.addLayers(markers);
  else for (const marker of markers) group.addLayer(marker);
}

// After a marker inside a cluster group changed how it looks, its clusters redraw their icons.
export function refreshCluster(group, marker) {
  // (An array: given one layer, markercluster only recognises an L.Marker, not a circle marker.)
  if (typeof group.refreshClusters === "function" && marker.__parent) group.refreshClusters([marker]);
}
