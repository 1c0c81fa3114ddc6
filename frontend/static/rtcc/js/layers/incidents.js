// Open CAD incidents: circle markers coloured by priority, pending calls drawn larger. A live
// update restyles the same marker; an incident that closes leaves the map (the layer shows open ones).
import { L } from "../leaflet.js";
import { el } from "../dom.js";
import { formatAge } from "../format.js";
import {
  PAGE_SIZE,
  applyTags,
  createIndex,
  featureId,
  pointLatLng,
  removeEntry,
  syncIndex,
  tagElement,
  tooltipOptions,
} from "./common.js";

const OPEN_STATUSES = ["pending", "dispatched", "on_scene"];
const PRIORITY_COLORS = { 1: "#ff453a", 2: "#ff9f0a", 3: "#ffd60a", 4: "#64d2ff", 5: "#8e8e93" };

export function priorityClass(priority) {
  const p = Number(priority) || 5;
  return Math.min(Math.max(p, 1), 5);
}

export function isOpenIncident(props) {
  return OPEN_STATUSES.includes(props?.status);
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

function styleFor(props) {
  const pending = props.status === "pending";
  return {
    radius: pending ? 10 : 7,
    color: pending ? "#ffffff" : "#0b1118",
    weight: pending ? 2.5 : 1.5,
    fillColor: PRIORITY_COLORS[priorityClass(props.priority)],
    fillOpacity: 0.92,
  };
}

function classFor(props) {
  return `incident-marker priority-${priorityClass(props.priority)} status-${props.status || "unknown"}`;
}

export function createIncidentsLayer({ api, onSelect }) {
  const group = L.layerGroup();
  const index = createIndex();
  let selectedId = null;
  let truncated = false;

  function markSelected(entry) {
    const node = entry.marker.getElement();
    if (node) node.classList.toggle("selected", featureId(entry.feature) === selectedId);
  }

  // Leaflet sets a path's class once, when it is created; a restyle rewrites it here.
  function setClasses(entry) {
    const node = entry.marker.getElement();
    entry.marker.options.className = classFor(entry.feature.properties || {});
    if (!node) return;
    node.setAttribute("class", `${entry.marker.options.className} leaflet-interactive`);
    markSelected(entry);
  }

  function add(feature, latlng) {
    const props = feature.properties || {};
    const entry = { feature };
    entry.marker = L.circleMarker(latlng, {
      pane: "incidents",
      ...styleFor(props),
      className: classFor(props),
    });
    tagElement(entry.marker, { "data-incident-id": feature.id, "data-cad": props.cad_number || "" });
    // A function: built when the tooltip opens, so the age it shows is current.
    entry.marker.bindTooltip(() => tooltip(entry.feature.properties || {}), tooltipOptions());
    entry.marker.on("click", () => onSelect(entry.feature));
    entry.marker.on("add", () => markSelected(entry));
    index.set(feature.id, entry);
    group.addLayer(entry.marker);
    return entry;
  }

  function remove(id) {
    return removeEntry(index, group, id);
  }

  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    const props = feature.properties || {};
    const latlng = pointLatLng(feature);
    if (!latlng || !isOpenIncident(props)) return remove(id);
    const entry = index.get(id);
    if (!entry) {
      const added = add(feature, latlng);
      if (priorityClass(props.priority) <= 2) added.marker.bringToFront();
      return true;
    }
    const before = entry.feature.properties || {};
    entry.feature = feature;
    if (!entry.marker.getLatLng().equals(latlng)) entry.marker.setLatLng(latlng);
    entry.marker.setStyle(styleFor(props));
    setClasses(entry);
    entry.marker.rtccTags["data-cad"] = props.cad_number || "";
    applyTags(entry.marker);
    if (priorityClass(props.priority) < priorityClass(before.priority)) entry.marker.bringToFront();
    return true;
  }

  function summary() {
    const pending = index.features().filter((f) => f.properties?.status === "pending").length;
    return { count: index.size, truncated, note: pending ? `${pending} pending` : "" };
  }

  return {
    id: "incidents",
    live: "incidents",
    label: "Incidents",
    perm: "view_layers",
    group,
    legend: [1, 2, 3, 4, 5].map((p) => ({ label: `P${p}`, className: `swatch-dot priority-${p}` })),
    async load({ bbox, signal }) {
      const result = await api.getFeatures(
        "incidents/", { in_bbox: bbox, status: OPEN_STATUSES.join(","), page_size: PAGE_SIZE }, { signal },
      );
      const features = [...result.features];
      // Urgent calls are added last so they are drawn on top of routine ones.
      features.sort((a, b) => priorityClass(b.properties?.priority) - priorityClass(a.properties?.priority));
      truncated = result.truncated;
      syncIndex(index, features, { upsert, remove });
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    get: (id) => index.get(id)?.feature || null,
    summary,
    select(id) {
      selectedId = id === null || id === undefined ? null : Number(id);
      for (const entry of index.entries.values()) markSelected(entry);
    },
  };
}
