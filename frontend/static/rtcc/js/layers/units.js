// Field units at their last AVL position, labelled with the call sign and coloured by status.
import { el, infoCard } from "../dom.js";
import { ageSeconds, formatAge, titleCase } from "../format.js";
import { L } from "../leaflet.js";
import { PAGE_SIZE, elementMarker, pointLatLng, popupOptions, tagElement } from "./common.js";

function icon(props, stale) {
  const dot = el("span", { className: "unit-dot" });
  const moving = Number(props.last_speed) > 1 && Number.isFinite(Number(props.last_heading));
  if (moving) {
    dot.classList.add("moving");
    dot.style.setProperty("--heading", `${Number(props.last_heading)}deg`);
  }
  return el("div", { className: `unit-chip status-${props.status}${stale ? " stale" : ""}` }, [
    dot,
    el("span", { className: "unit-label", text: props.call_sign }),
  ]);
}

function popup(props) {
  const speed = Number(props.last_speed);
  return infoCard(props.call_sign, [
    ["Kind", titleCase(props.kind)],
    ["Status", titleCase(props.status)],
    ["Speed", Number.isFinite(speed) && props.last_speed !== null ? `${Math.round(speed * 3.6)} km/h` : ""],
    ["Last fix", formatAge(props.last_seen)],
  ], { className: "unit-card" });
}

export function createUnitsLayer({ api, config }) {
  const group = L.layerGroup();

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const age = ageSeconds(props.last_seen);
    const stale = typeof props.stale === "boolean" ? props.stale : age === null || age > config.unitStaleSeconds;
    const marker = elementMarker(latlng, icon(props, stale), {
      className: `unit-marker status-${props.status}${stale ? " stale" : ""}`,
      pane: "units",
    });
    tagElement(marker, { "data-unit-id": feature.id });
    marker.bindPopup(() => popup(props), popupOptions());
    return marker;
  }

  return {
    id: "units",
    label: "Units",
    perm: "view_layers",
    group,
    legend: [
      { label: "Available", className: "swatch-dot unit-available" },
      { label: "Dispatched", className: "swatch-dot unit-dispatched" },
      { label: "On scene", className: "swatch-dot unit-on_scene" },
      { label: "Out of service", className: "swatch-dot unit-out_of_service" },
    ],
    async load({ bbox, signal }) {
      const { features, truncated } = await api.getFeatures(
        "units/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal },
      );
      group.clearLayers();
      for (const feature of features) {
        const marker = build(feature);
        if (marker) group.addLayer(marker);
      }
      const available = features.filter((f) => f.properties?.status === "available").length;
      return { count: features.length, truncated, note: `${available} available` };
    },
  };
}
