// Open CAD incidents: circle markers coloured by priority, pending calls drawn larger.
import { L } from "../leaflet.js";
import { el } from "../dom.js";
import { formatAge } from "../format.js";
import { PAGE_SIZE, pointLatLng, tagElement, tooltipOptions } from "./common.js";

const OPEN_STATUSES = "pending,dispatched,on_scene";
const PRIORITY_COLORS = { 1: "#ff453a", 2: "#ff9f0a", 3: "#ffd60a", 4: "#64d2ff", 5: "#8e8e93" };

export function priorityClass(priority) {
  const p = Number(priority) || 5;
  return Math.min(Math.max(p, 1), 5);
}

function tooltip(props) {
  return el("div", { className: "tt" }, [
    el("div", { className: "tt-title mono", text: props.cad_number }),
    el("div", { text: [props.type_code, props.type_description].filter(Boolean).join(" · ") }),
    el("div", {
      className: "tt-muted",
      text: [props.address, formatAge(props.received_at)].filter(Boolean).join(" · "),
    }),
  ]);
}

export function createIncidentsLayer({ api, onSelect }) {
  const group = L.layerGroup();
  const markers = new Map();
  let selectedId = null;

  function markSelected() {
    for (const [id, marker] of markers) {
      const node = marker.getElement();
      if (node) node.classList.toggle("selected", id === selectedId);
    }
  }

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const p = priorityClass(props.priority);
    const pending = props.status === "pending";
    const marker = L.circleMarker(latlng, {
      pane: "incidents",
      radius: pending ? 10 : 7,
      color: pending ? "#ffffff" : "#0b1118",
      weight: pending ? 2.5 : 1.5,
      fillColor: PRIORITY_COLORS[p],
      fillOpacity: 0.92,
      className: `incident-marker priority-${p} status-${props.status || "unknown"}`,
    });
    tagElement(marker, { "data-incident-id": feature.id, "data-cad": props.cad_number || "" });
    marker.bindTooltip(tooltip(props), tooltipOptions());
    marker.on("click", () => onSelect(feature));
    marker.on("add", () => {
      const node = marker.getElement();
      if (node) node.classList.toggle("selected", feature.id === selectedId);
    });
    return marker;
  }

  return {
    id: "incidents",
    label: "Incidents",
    perm: "view_layers",
    group,
    legend: [1, 2, 3, 4, 5].map((p) => ({ label: `P${p}`, className: `swatch-dot priority-${p}` })),
    async load({ bbox, signal }) {
      const { features, truncated } = await api.getFeatures(
        "incidents/", { in_bbox: bbox, status: OPEN_STATUSES, page_size: PAGE_SIZE }, { signal },
      );
      // Urgent calls are added last so they are drawn on top of routine ones.
      features.sort((a, b) => priorityClass(b.properties?.priority) - priorityClass(a.properties?.priority));
      group.clearLayers();
      markers.clear();
      for (const feature of features) {
        const marker = build(feature);
        if (marker) {
          markers.set(feature.id, marker);
          group.addLayer(marker);
        }
      }
      const pending = features.filter((f) => f.properties?.status === "pending").length;
      return { count: features.length, truncated, note: pending ? `${pending} pending` : "" };
    },
    select(id) {
      selectedId = id;
      markSelected();
    },
  };
}
