// ALPR reader sites (clustered where dense), and the plate reads that hit a hotlist (recent ones only).
import { el, infoCard } from "../dom.js";
import { formatAge, formatDateTime, titleCase, viewText } from "../format.js";
import { L } from "../leaflet.js";
import {
  PAGE_SIZE,
  addAll,
  clusterGroup,
  createIndex,
  elementMarker,
  featureId,
  flash,
  hoursAgoIso,
  olderThan,
  pointLatLng,
  popupOptions,
  removeEntry,
  sameFeature,
  syncIndex,
  tagElement,
  textTooltip,
} from "./common.js";

export function createAlprSitesLayer({ api, config }) {
  const group = clusterGroup({ pane: "alpr", disableAt: config.cameraViewMinZoom, className: "alpr-cluster" });

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const marker = elementMarker(latlng, el("span", { className: "alpr-site-glyph" }), {
      className: `alpr-site-marker kind-${props.kind}`,
      pane: "alpr",
    });
    textTooltip(marker, props.name || "ALPR site");
    marker.bindPopup(() => infoCard(props.name, [
      ["Kind", titleCase(props.kind)],
      ["Faces", Array.isArray(props.view) ? viewText(props.view) : ""],
      ["Operator", props.attributes?.operator],
      ["Flag", props.attributes?.service_area],
    ]), popupOptions());
    return marker;
  }

  return {
    id: "alpr-sites",
    label: "ALPR sites",
    perm: "view_layers",
    group,
    legend: [{ label: "Reader", className: "swatch-square alpr-site" }],
    async load({ bbox, signal }) {
      const { features, truncated } = await api.getFeatures(
        "alpr/sites/", { in_bbox: bbox, page_size: PAGE_SIZE }, { signal },
      );
      group.clearLayers();
      // One bulk add: the cluster group clusters them once, not once per marker.
      addAll(group, features.map(build).filter(Boolean));
      return { count: features.length, truncated };
    },
  };
}

export function createAlprHitsLayer({ api, config }) {
  const group = L.layerGroup();
  const index = createIndex();
  let truncated = false;

  function build(feature) {
    const latlng = pointLatLng(feature);
    if (!latlng) return null;
    const props = feature.properties || {};
    const hit = props.hit || {};
    const chip = el("div", { className: "alpr-hit-chip" }, [
      el("span", { className: "alpr-hit-plate mono", text: props.plate }),
      props.state ? el("span", { className: "alpr-hit-state", text: props.state }) : null,
    ]);
    const marker = elementMarker(latlng, chip, { className: "alpr-hit-marker", pane: "alpr" });
    tagElement(marker, { "data-read-id": feature.id });
    marker.bindPopup(() => infoCard(`${props.plate}${props.state ? ` (${props.state})` : ""}`, [
      ["Hotlist", hit.hotlist],
      ["Reason", hit.reason],
      ["Read", `${formatDateTime(props.read_at)} · ${formatAge(props.read_at)}`],
      ["Site", typeof props.site === "object" && props.site ? props.site.name : props.site],
    ], { className: "alpr-card" }), popupOptions());
    return marker;
  }

  function remove(id) {
    return removeEntry(index, group, id);
  }

  function add(feature) {
    const marker = build(feature);
    if (!marker) return null;
    index.set(feature.id, { feature, marker });
    group.addLayer(marker);
    return marker;
  }

  // Reads live-stream only when they hit a hotlist; a read that is no longer a hit, or older than
  // the window this layer shows, leaves it.
  function upsert(feature) {
    const id = featureId(feature);
    if (id === null) return false;
    const props = feature.properties || {};
    if (sameFeature(index.get(id)?.feature, feature)) return true;
    const existed = remove(id);
    if (!props.hit || olderThan(props.read_at, config.alprHitLookbackHours)) return existed;
    return Boolean(add(feature)) || existed;
  }

  function summary() {
    return { count: index.size, truncated };
  }

  return {
    id: "alpr-hits",
    live: "alpr_reads",
    label: "ALPR hotlist hits",
    perm: "view_alpr_reads",
    deniedNote: "Plate reads are not available to your role",
    group,
    legend: [{ label: `Last ${config.alprHitLookbackHours} h`, className: "swatch-square alpr-hit" }],
    async load({ bbox, signal }) {
      const result = await api.getFeatures("alpr/reads/", {
        in_bbox: bbox, hits: 1, since: hoursAgoIso(config.alprHitLookbackHours), page_size: PAGE_SIZE,
      }, { signal });
      truncated = result.truncated;
      syncIndex(index, result.features, { upsert, remove });
      return summary();
    },
    upsert,
    remove,
    has: (id) => index.has(id),
    summary,
    // A hit that just came in blinks for a few seconds.
    highlight(id) {
      const entry = index.get(id);
      if (entry) flash(entry.marker, "live-new");
    },
    tick() {
      for (const entry of [...index.entries.values()]) {
        if (olderThan(entry.feature.properties?.read_at, config.alprHitLookbackHours)) remove(entry.feature.id);
      }
    },
  };
}
