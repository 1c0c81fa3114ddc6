// Leaflet arrives as a classic script from django-leaflet's static files (it has no ES module
// build there); this module is the only place that reads the global.
export const L = window.L;
if (!L) {
  throw new Error("Leaflet did not load: check that {% leaflet_js %} comes before main.js");
}

// No markup from data. Leaflet inserts a string given to a popup or tooltip (bindPopup,
// bindTooltip, setContent, setTooltipContent...) or to L.divIcon's `html` with innerHTML. Our
// modules pass elements built with dom.js; this makes a string that slips through anyway (a new
// layer, a copied example) show as text instead of becoming elements. Leaflet 1.9's public hooks:
// every popup/tooltip content goes through DivOverlay#setContent, every DivIcon through its
// constructor (addInitHook).
function asText(content) {
  if (typeof content !== "string" || content === "") return content;
  const node = document.createElement("span");
  node.textContent = content;
  return node;
}

if (!L.DivOverlay.prototype.rtccTextOnly) {
  const setContent = L.DivOverlay.prototype.setContent;
  L.DivOverlay.include({
    rtccTextOnly: true,
    setContent(content) {
      const safe = typeof content === "function" ? (source) => asText(content(source)) : asText(content);
      return setContent.call(this, safe);
    },
  });
  L.DivIcon.addInitHook(function textHtml() {
    this.options.html = asText(this.options.html);
  });
}
