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

// Leaflet puts string content in with innerHTML, so tooltips always get an element.
export function textTooltip(layer, text) {
  const node = document.createElement("span");
  node.textContent = text;
  return layer.bindTooltip(node, tooltipOptions());
}

export function tooltipOptions() {
  return { direction: "top", offset: [0, -8], className: "rtcc-tooltip", opacity: 1 };
}

export function popupOptions() {
  return { className: "rtcc-popup", maxWidth: 320, autoPanPadding: [60, 60] };
}

// Put `element` in a layer once it is on the map, so tests and later live updates can find it.
export function tagElement(layer, attributes) {
  layer.on("add", () => {
    const node = layer.getElement && layer.getElement();
    if (!node) return;
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  });
  return layer;
}
