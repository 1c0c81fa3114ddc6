// The basemap: the agency's own raster tile server when RTCC_TILE_URL is set (config.tiles), else
// vector tiles of our streets and zones from /api/tiles/basemap/ (config.basemap). Never the
// internet unless an agency configures it.
import { L } from "./leaflet.js";

// Dark console palette: arterials stand out, local streets recede, paths only hint.
const STREET_CLASSES = [
  { kinds: ["motorway", "trunk", "motorway_link", "trunk_link"], color: "#8a6a3b", width: [1.4, 2.4, 5] },
  { kinds: ["primary", "primary_link"], color: "#5d6f84", width: [1, 2, 4.5] },
  { kinds: ["secondary", "secondary_link", "tertiary", "tertiary_link"], color: "#46576a", width: [0.8, 1.5, 3.5] },
  { kinds: ["residential", "unclassified", "living_street", "road"], color: "#34424f", width: [0.5, 1, 2.6] },
  { kinds: ["service", "pedestrian"], color: "#2a3541", width: [0.4, 0.7, 1.6] },
];
const PATH = { color: "#2a3541", width: [0.4, 0.6, 1.2], dashArray: "2 3" };
const BY_KIND = new Map(STREET_CLASSES.flatMap((cls) => cls.kinds.map((kind) => [kind, cls])));
const ZONES = {
  city: { color: "#7f9bb8", weight: 2.5, opacity: 0.7, fill: false },
  district: { color: "#4f6d8c", weight: 1.6, opacity: 0.7, fill: false, dashArray: "6 4" },
  beat: { color: "#2c4158", weight: 1, opacity: 0.6, fill: false },
};

// Line width at a zoom: city view, neighbourhood, street level.
function widthAt([far, mid, near], zoom) {
  return zoom < 13 ? far : zoom < 16 ? mid : near;
}

function streetStyle(properties, zoom) {
  const cls = BY_KIND.get(properties.kind) || PATH;
  return {
    color: cls.color,
    weight: widthAt(cls.width, zoom),
    opacity: 0.95,
    dashArray: cls.dashArray,
    lineCap: "round",
    lineJoin: "round",
  };
}

function zoneStyle(properties) {
  return ZONES[properties.kind] || [];
}

function vectorBasemap(map, basemap) {
  if (!L.vectorGrid) {
    throw new Error("Leaflet.VectorGrid did not load: check its <script> after {% leaflet_js %}");
  }
  return L.vectorGrid.protobuf(basemap.url, {
    rendererFactory: L.canvas.tile,
    // Decoration only: VectorGrid 1.3's click handling calls L.DomEvent.fakeStop, which Leaflet 1.9
    // no longer has, so an interactive grid throws on click.
    interactive: false,
    maxNativeZoom: 18,
    maxZoom: map.getMaxZoom(),
    fetchOptions: { credentials: "same-origin" },
    vectorTileLayerStyles: { streets: streetStyle, zones: zoneStyle },
    className: "basemap-vector",
  });
}

// Adds the basemap to the map and returns the layer (null when neither is configured).
export function addBasemap(map, config) {
  const container = map.getContainer();
  if (config.tiles.length > 0) {
    map.attributionControl.setPrefix(false);
    const [first] = config.tiles;
    container.classList.add("basemap-raster");
    return L.tileLayer(first.url, { attribution: first.attribution, maxZoom: config.maxZoom }).addTo(map);
  }
  container.classList.add("no-tiles");
  if (!config.basemap) return null;
  container.classList.add("basemap-own");
  const layer = vectorBasemap(map, config.basemap);
  if (config.basemap.attribution) {
    L.control.attribution({ prefix: false }).addTo(map);
    layer.options.attribution = config.basemap.attribution;
  }
  return layer.addTo(map);
}
