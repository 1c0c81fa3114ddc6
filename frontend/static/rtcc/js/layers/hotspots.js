// The planner's hotspot layer: draws one hotspot run's GeoJSON (apps.hotspots): Gi* hexagons coloured
// by hot/cold class, the KDE heat surface, a two-period comparison, or the hot cells no camera covers.
import { infoCard } from "../dom.js";
import { L } from "../leaflet.js";
import { popupOptions } from "./common.js";

const PANE = "hotspots";
// Above beats and districts, below camera view cones and every point layer.
const PANE_Z = 370;

// ColorBrewer RdBu, as hot spot maps are usually read: dark red hot at 99%, dark blue cold at 99%.
export const CLASS_COLORS = {
  hot99: "#b2182b",
  hot95: "#ef8a62",
  hot90: "#fddbc7",
  cold90: "#d1e5f0",
  cold95: "#67a9cf",
  cold99: "#2166ac",
};
export const CLASS_LABELS = {
  hot99: "Hot spot, 99%",
  hot95: "Hot spot, 95%",
  hot90: "Hot spot, 90%",
  cold90: "Cold spot, 90%",
  cold95: "Cold spot, 95%",
  cold99: "Cold spot, 99%",
  none: "Not significant",
};
export const TREND_COLORS = { new: "#ff453a", persistent: "#b2182b", cooled: "#67a9cf" };
export const TREND_LABELS = {
  new: "Hot now, not before",
  persistent: "Hot in both periods",
  cooled: "Hot before, not now",
};
const KDE_RAMP = ["#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04"];

export function kdeColor(level) {
  const i = Math.min(KDE_RAMP.length - 1, Math.floor(level * KDE_RAMP.length));
  return KDE_RAMP[i];
}

function percent(value) {
  return `${Math.round((value || 0) * 100)}%`;
}

function styleFor(kind) {
  if (kind === "kde") {
    return (feature) => ({
      pane: PANE, stroke: false, fillColor: kdeColor(feature.properties.level),
      fillOpacity: 0.15 + 0.5 * feature.properties.level, className: "hotspot-kde",
    });
  }
  if (kind === "compare") {
    return (feature) => {
      const trend = feature.properties.trend;
      return {
        pane: PANE, weight: trend ? 1.5 : 0.5, color: trend ? TREND_COLORS[trend] : "#55667a",
        fillColor: trend ? TREND_COLORS[trend] : "#55667a", fillOpacity: trend ? 0.5 : 0.08,
        className: `hotspot-cell trend-${trend || "none"}`,
      };
    };
  }
  if (kind === "gaps") {
    return (feature) => {
      const gap = feature.properties.gap;
      return {
        pane: PANE, weight: gap ? 2.5 : 1, dashArray: gap ? "6 4" : null, color: gap ? "#ff453a" : "#30d158",
        fillColor: gap ? "#ff453a" : "#30d158", fillOpacity: gap ? 0.35 : 0.12,
        className: `hotspot-cell ${gap ? "gap" : "covered"}`,
      };
    };
  }
  return (feature) => {
    const cls = feature.properties.class;
    const color = CLASS_COLORS[cls];
    return {
      pane: PANE, weight: 0.5, color: color || "#55667a", fillColor: color || "#55667a",
      fillOpacity: color ? 0.55 : 0.06, className: `hotspot-cell class-${cls}`,
    };
  };
}

function card(kind, p) {
  if (kind === "kde") {
    return infoCard("Incident density", [["Per km²", p.density.toFixed(1)], ["Of peak", percent(p.level)]]);
  }
  if (kind === "compare") {
    return infoCard(TREND_LABELS[p.trend] || "No significant change", [
      ["Period A", `${p.count_a} (${CLASS_LABELS[p.class_a]}, z ${p.z_a})`],
      ["Period B", `${p.count_b} (${CLASS_LABELS[p.class_b]}, z ${p.z_b})`],
      ["Change", p.change_pct === null ? `${p.change > 0 ? "+" : ""}${p.change}` : `${p.change > 0 ? "+" : ""}${p.change} (${p.change_pct}%)`],
    ], { subtitle: `H3 ${p.cell}` });
  }
  if (kind === "gaps") {
    return infoCard(p.gap ? "Coverage gap" : "Covered hot spot", [
      ["Hot spot", `${CLASS_LABELS[p.class]} (z ${p.z})`],
      ["Incidents", p.count],
      ["Seen by cameras", percent(p.covered)],
      ["Agency cameras", percent(p.covered_agency)],
      ["Partner cameras", percent(p.covered_partner)],
      ["Community registry", percent(p.covered_community)],
      ["Cameras looking in", p.cameras],
    ], { subtitle: `H3 ${p.cell}` });
  }
  return infoCard(CLASS_LABELS[p.class] || p.class, [
    ["Incidents", p.count],
    ["Gi* z-score", p.z],
    ["p (normal)", p.p_norm],
    ["p (permutations)", p.p_sim ?? ""],
    ["Share inside study area", p.exposure < 1 ? percent(p.exposure) : ""],
  ], { subtitle: `H3 ${p.cell}` });
}

export function createHotspotsLayer({ map }) {
  if (!map.getPane(PANE)) map.createPane(PANE).style.zIndex = String(PANE_Z);
  const group = L.layerGroup();
  // A KDE surface is up to 20,000 squares: one canvas draws them, SVG would need a node each.
  const canvas = L.canvas({ pane: PANE, padding: 0.3 });
  let shown = null;

  return {
    group,
    get shown() {
      return shown;
    },
    show(run) {
      group.clearLayers();
      shown = run;
      const features = run.result?.features || [];
      const layer = L.geoJSON({ type: "FeatureCollection", features }, {
        pane: PANE,
        renderer: run.kind === "kde" ? canvas : undefined,
        style: styleFor(run.kind),
        onEachFeature(feature, item) {
          item.bindPopup(() => card(run.kind, feature.properties), popupOptions());
        },
      });
      group.addLayer(layer);
      if (!map.hasLayer(group)) group.addTo(map);
      return features.length;
    },
    clear() {
      group.clearLayers();
      shown = null;
      map.removeLayer(group);
    },
    bounds() {
      const layers = group.getLayers();
      return layers.length ? layers[0].getBounds() : null;
    },
  };
}
