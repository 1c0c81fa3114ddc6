// Leaflet arrives as a classic script from django-leaflet's static files (it has no ES module
// build there); this module is the only place that reads the global.
export const L = window.L;
if (!L) {
  throw new Error("Leaflet did not load: check that {% leaflet_js %} comes before main.js");
}
