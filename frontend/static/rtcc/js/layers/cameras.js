// Cameras by owner kind (agency / partner / community); offline ones greyed. Their view cones
// are drawn only when zoomed in far enough to read them.
import { L } from "../leaflet.js";
import { el, infoCard } from "../dom.js";
import { formatAge, titleCase } from "../format.js";
import { PAGE_SIZE, elementMarker, pointLatLng, popupOptions, tagElement, textTooltip } from "./common.js";

const OWNER_COLORS = { agency: "#4c9bff", partner: "#bf5af2", community: "#30d5a0" };

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
  const points = L.layerGroup();
  const cones = L.layerGroup();
  const group = L.layerGroup([points]);

  function showCones(zoom) {
    const wanted = zoom >= config.cameraViewMinZoom;
    if (wanted && !group.hasLayer(cones)) group.addLayer(cones);
    if (!wanted && group.hasLayer(cones)) group.removeLayer(cones);
  }

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return;
    const props = feature.properties || {};
    const online = props.status !== "offline";
    // Squares, so a camera never reads as an incident (those are circles).
    const marker = elementMarker(latlng, el("span", { className: "camera-glyph" }), {
      className: `camera-marker owner-${props.owner_kind} status-${props.status}${props.ptz ? " ptz" : ""}`,
      pane: "cameras",
    });
    tagElement(marker, { "data-camera-id": feature.id });
    textTooltip(marker, props.name || "Camera");
    marker.bindPopup(() => popup(props), popupOptions());
    points.addLayer(marker);
    if (props.view && online) {
      const color = OWNER_COLORS[props.owner_kind] || OWNER_COLORS.agency;
      cones.addLayer(L.geoJSON(props.view, {
        pane: "cameraViews",
        interactive: false,
        style: { color, weight: 1, opacity: 0.6, fillColor: color, fillOpacity: 0.14, className: "camera-view" },
      }));
    }
  }

  return {
    id: "cameras",
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
      const { features, truncated } = await api.getFeatures(
        "cameras/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal },
      );
      points.clearLayers();
      cones.clearLayers();
      features.forEach(build);
      showCones(map.getZoom());
      const offline = features.filter((f) => f.properties?.status === "offline").length;
      return { count: features.length, truncated, note: offline ? `${offline} offline` : "" };
    },
    onZoom: showCones,
  };
}
