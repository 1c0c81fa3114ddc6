// Open CAD incidents: circle markers coloured by priority, pending calls drawn larger. A live
// update restyles the same marker; an incident that closes leaves the map (the layer shows open ones).
// Where they are dense they cluster; a cluster takes the colour of the most urgent call inside and
// says how many of its calls are pending, so an urgent call is never hidden in a grey bubble.
import { L } from "../leaflet.js";
import { el } from "../dom.js";
import { formatAge } from "../format.js";
import {
  PAGE_SIZE,
  applyTags,
  clusterBadge,
  clusterGroup,
  createIndex,
  featureId,
  pointLatLng,
  refreshCluster,
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

// The order an operator works calls in: pending first, then the most urgent, then the newest.
export function compareIncidents(a, b) {
  const pa = a.properties || {};
  const pb = b.properties || {};
  const pending = Number(pb.status === "pending") - Number(pa.status === "pending");
  if (pending) return pending;
  const priority = priorityClass(pa.priority) - priorityClass(pb.priority);
  if (priority) return priority;
  return (Date.parse(pb.received_at) || 0) - (Date.parse(pa.received_at) || 0) || featureId(a) - featureId(b);
}

function clusterIcon(cluster) {
  const props = cluster.getAllChildMarkers().map((marker) => marker.rtccEntry?.feature.properties || {});
  const pending = props.filter((p) => p.status === "pending").length;
  const note = pending
    ? el("span", { className: "rtcc-cluster-note", text: `${pending} pending`, title: `${pending} pending` })
    : null;
  return clusterBadge(props.length, note ? [note] : []);
}

function clusterClass(cluster) {
  const props = cluster.getAllChildMarkers().map((marker) => marker.rtccEntry?.feature.properties || {});
  const top = Math.min(...props.map((p) => priorityClass(p.priority)));
  return `priority-${top}${props.some((p) => p.status === "pending") ? " has-pending" : ""}`;
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

export function createIncidentsLayer({ api, config, map, onSelect }) {
  const group = clusterGroup({
    pane: "incidents",
    disableAt: config.cameraViewMinZoom,
    className: "incident-cluster",
    icon: clusterIcon,
    classFor: clusterClass,
  });
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
    entry.marker.rtccEntry = entry;
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
    if (props.priority !== before.priority || props.status !== before.status) refreshCluster(group, entry.marker);
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
    // What is drawn, in the order an operator works through it (compareIncidents).
    ordered: () => index.features().sort(compareIncidents),
    // Bring a call out of its cluster (zooming in or fanning the cluster out as needed).
    reveal(id) {
      const entry = index.get(id);
      if (!entry || typeof group.getVisibleParent !== "function" || !map.hasLayer(group)) return;
      const shown = group.getVisibleParent(entry.marker);
      if (shown && shown !== entry.marker) group.zoomToShowLayer(entry.marker);
    },
    summary,
    select(id) {
      selectedId = id === null || id === undefined ? null : Number(id);
      for (const entry of index.entries.values()) markSelected(entry);
    },
  };
}
