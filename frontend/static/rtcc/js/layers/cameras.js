// Cameras by owner kind (agency / partner / community); offline ones greyed. Their view cones
// are drawn only when zoomed in far enough to read them; further out, dense cameras cluster (a
// cluster says how many of its cameras are offline), and from the cone zoom on none do.
import { L } from "../leaflet.js";
import { el, infoCard } from "../dom.js";
import { formatAge, titleCase } from "../format.js";
import {
  PAGE_SIZE, clusterBadge, clusterGroup, createIndex, elementMarker, featureId, pointLatLng, popupOptions, sameFeature,
  syncIndex, tagElement, textTooltip,
} from "./common.js";

const OWNER_COLORS = { agency: "#4c9bff", partner: "#bf5af2", community: "#30d5a0" };

function clusterIcon(cluster) {
  const markers = cluster.getAllChildMarkers();
  const offline = markers.filter((marker) => marker.rtccEntry?.feature.properties?.status === "offline").length;
  const note = offline
    ? el("span", { className: "rtcc-cluster-note", text: `${offline} off`, title: `${offline} offline` })
    : null;
  return clusterBadge(markers.length, note ? [note] : []);
}

function popup(props) {
  const view = props.heading === null || props.heading === undefined
    ? "360°"
    : `${Math.round(props.heading)}° · ${Math.round(props.fov_angle)}° wide · ${Math.round(props.fov_range)} m`;
  return infoCard(props.name, [
    ["Owner", [titleCase(props.owner_kind), props.owner_name].filter(Boolean).join(" · ")],
    ["Status", titleCase(props.status)],
    ["View", view + (props.ptz ? " · PTZ" : "")],
    ["Sharing", props.sharing === "live" ? "Live view" : "Recorded, on request"],
    ["Stream", props.stream_kind ? props.stream_kind.toUpperCase() : ""],
    ["Last seen", formatAge(props.last_seen)],
  ], { className: "camera-card" });
}

export function createCamerasLayer({ api, config, map }) {
  const points = clusterGroup({
    pane: "cameras", disableAt: config.cameraViewMinZoom, className: "camera-cluster", icon: clusterIcon,
  });
  const cones = L.layerGroup();
  const group = L.layerGroup([points]);
  const index = createIndex();
  let truncated = false;

  function showCones(zoom) {
    const wanted = zoom >= config.cameraViewMinZoom;
    if (wanted && !group.hasLayer(cones)) group.addLayer(cones);
    if (!wanted && group.hasLayer(cones)) group.removeLayer(cones);
  }

  function add(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const entry = { feature, cone: null };
    const online = props.status !== "offline";
    // Squares, so a camera never reads as an incident (those are circles).
    entry.marker = elementMarker(latlng, el("span", { className: "camera-glyph" }), {
      className: `camera-marker owner-${props.owner_kind} status-${props.status}${props.ptz ? " ptz" : ""}`,
      pane: "cameras",
    });
    entry.marker.rtccEntry = entry;
    tagElement(entry.marker, { "data-camera-id": feature.id });
    textTooltip(entry.marker, props.name || "Camera");
    entry.marker.bindPopup(() => popup(entry.feature.properties || {}), popupOptions());
    points.addLayer(entry.marker);
    if (props.view && online) {
      const color = OWNER_COLORS[props.owner_kind] || OWNER_COLORS.agency;
      entry.cone = L.geoJSON(props.view, {
        pane: "cameraViews",
        interactive: false,
        style: { color, weight: 1, opacity: 0.6, fillColor: color, fillOpacity: 0.14, className: "camera-view" },
      });
      cones.addLayer(entry.cone);
    }
    index.set(feature.id, entry);
    return entry;
  }

  function remove(id) {
    const entry = index.get(id);
    if (!entry) return false;
    points.removeLayer(entry.marker);
    if (entry.cone) cones.removeLayer(entry.cone);
    index.delete(id);
    return true;
  }

  // A camera that changed (status, view, place) is redrawn: its marker and cone are cheap.
  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    if (sameFeature(index.get(id)?.feature, feature)) return true;
    const existed = remove(id);
    return Boolean(add(feature)) || existed;
  }

  function summary() {
    const offline = index.features().filter((f) => f.properties?.status === "offline").length;
    return { count: index.size, truncated, note: offline ? `${offline} offline` : "" };
  }

  return {
    id: "cameras",
    live: "cameras",
    label: "Cameras",
    perm: "view_layers",
    group,
    legend: [
      { label: "Agency", className: "swatch-square owner-agency" },
      { label: "Partner", className: "swatch-square owner-partner" },
      { label: "Community", className: "swatch-square owner-community" },
      { label: "Offline", className: "swatch-square offline" },
    ],
    async load({ bbox, signal }) {
      const result = await api.getFeatures("cameras/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal });
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      showCones(map.getZoom());
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    onZoom: showCones,
  };
}
