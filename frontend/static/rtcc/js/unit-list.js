// The unit list: every unit on the map with its call sign, status and how long ago it reported,
// filtered by status. Clicking a unit follows it: the map keeps it centred as it moves, a bar says
// "Following X" with a Stop button, and dragging the map stops following (the operator took over).
import { el } from "./dom.js";
import { ageSeconds, formatAge } from "./format.js";
import { L } from "./leaflet.js";

const AGE_REFRESH_MS = 5000;

function shortAge(iso) {
  const seconds = ageSeconds(iso);
  if (seconds === null) return "never";
  return formatAge(iso);
}

export function createUnitList({ map, units, statuses }) {
  const labels = new Map(statuses.map((s) => [s.value, s.label]));
  let open = false;
  let filter = "";
  let followed = null; // unit id
  let renderQueued = false;

  // ---- the panel (a Leaflet control, so it sits with the map's other controls) -----------------

  const count = el("span", { className: "ul-count" });
  const toggle = el("button", {
    className: "ul-toggle",
    attrs: { type: "button", "aria-expanded": "false", "aria-controls": "unit-list-body", title: "Unit list (u)" },
  }, ["Units ", count]);
  const select = el("select", { className: "ul-filter", attrs: { "aria-label": "Filter units by status" } });
  const list = el("ul", { className: "ul-list", attrs: { role: "list" } });
  const empty = el("p", { className: "ul-empty", text: "No units in view." });
  const body = el("div", { className: "ul-body", attrs: { id: "unit-list-body" } }, [
    el("label", { className: "ul-filter-row" }, [el("span", { text: "Status" }), select]),
    list,
    empty,
  ]);
  body.hidden = true;
  const root = el("section", { className: "unit-list", attrs: { "aria-label": "Units" } }, [toggle, body]);

  const Control = L.Control.extend({
    options: { position: "topright" },
    onAdd() {
      L.DomEvent.disableClickPropagation(root);
      L.DomEvent.disableScrollPropagation(root);
      return root;
    },
  });
  new Control().addTo(map);

  // ---- following --------------------------------------------------------------------------------

  const followName = el("strong", { className: "follow-name" });
  const stopButton = el("button", { className: "follow-stop", attrs: { type: "button" }, text: "Stop" });
  const followBar = el("div", { className: "follow-bar", attrs: { role: "status", "aria-live": "polite" } }, [
    "Following ", followName, " — ", stopButton,
  ]);
  followBar.hidden = true;
  L.DomEvent.disableClickPropagation(followBar);
  map.getContainer().append(followBar);
  stopButton.addEventListener("click", () => follow(null));
  // The operator dragged the map: they want to look elsewhere.
  map.on("dragstart", () => follow(null));

  function callSign(id) {
    const unit = units.list().find((u) => Number(u.feature.id) === Number(id));
    return unit?.feature.properties?.call_sign || "";
  }

  function keepCentred() {
    const latlng = followed === null ? null : units.latLng(followed);
    if (!latlng) return;
    // A pixel or two off is centred: panning by less would only start another reload.
    const offset = map.latLngToContainerPoint(latlng).subtract(map.getSize().divideBy(2));
    if (Math.abs(offset.x) > 2 || Math.abs(offset.y) > 2) map.panTo(latlng, { animate: true, duration: 0.5 });
  }

  function follow(id) {
    followed = id === null || id === undefined ? null : Number(id);
    followBar.hidden = followed === null;
    map.getContainer().classList.toggle("following", followed !== null);
    if (followed !== null) {
      followName.textContent = callSign(followed);
      followBar.dataset.unitId = String(followed);
      keepCentred();
    } else {
      delete followBar.dataset.unitId;
    }
    render();
  }

  // ---- rendering ----------------------------------------------------------------------------------

  function fillFilter(all) {
    const byStatus = new Map();
    for (const { feature } of all) {
      const status = feature.properties?.status;
      byStatus.set(status, (byStatus.get(status) || 0) + 1);
    }
    const texts = [["", `All statuses (${all.length})`]];
    for (const [value, label] of labels) texts.push([value, `${label} (${byStatus.get(value) || 0})`]);
    // Rebuilt only when a count changed: replacing the options would close the list in the user's hand.
    const key = JSON.stringify(texts);
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    select.replaceChildren(...texts.map(([value, text]) => el("option", { attrs: { value }, text })));
    select.value = filter;
  }

  function row({ feature, stale }) {
    const props = feature.properties || {};
    const id = Number(feature.id);
    const item = el("li", {
      className: `ul-row status-${props.status}${stale ? " stale" : ""}${id === followed ? " followed" : ""}`,
      dataset: { unitId: id },
    }, [
      el("button", {
        className: "ul-unit",
        attrs: { type: "button", "aria-pressed": String(id === followed), title: `Follow ${props.call_sign}` },
        on: { click: () => follow(id === followed ? null : id) },
      }, [
        el("span", { className: `ul-dot status-${props.status}`, attrs: { "aria-hidden": "true" } }),
        el("span", { className: "ul-sign mono", text: props.call_sign }),
        el("span", { className: "ul-status", text: labels.get(props.status) || props.status }),
        el("span", { className: "ul-age", text: shortAge(props.last_seen), title: stale ? "Stale: no recent fix" : "" }),
      ]),
    ]);
    return item;
  }

  function render() {
    renderQueued = false;
    const all = units.list().sort((a, b) => String(a.feature.properties?.call_sign).localeCompare(
      String(b.feature.properties?.call_sign), undefined, { numeric: true },
    ));
    count.textContent = String(all.length);
    if (!open) return;
    fillFilter(all);
    const shown = filter ? all.filter((u) => u.feature.properties?.status === filter) : all;
    list.replaceChildren(...shown.map(row));
    empty.hidden = shown.length > 0;
    empty.textContent = all.length ? "No unit with this status in view." : "No units in view.";
  }

  // Live updates can come in bursts: one redraw per frame at most.
  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    window.requestAnimationFrame(render);
  }

  function setOpen(next) {
    open = next;
    body.hidden = !open;
    root.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    render();
  }

  toggle.addEventListener("click", () => setOpen(!open));
  select.addEventListener("change", () => {
    filter = select.value;
    render();
  });

  units.onChange((id) => {
    if (followed !== null && (id === null || id === followed)) {
      if (units.has(followed)) keepCentred();
      else follow(null); // it left the map: nothing to follow any more
    }
    queueRender();
  });
  window.setInterval(() => {
    if (open && !document.hidden) render();
  }, AGE_REFRESH_MS);
  render();

  return {
    toggle: () => setOpen(!open),
    follow,
    get following() {
      return followed;
    },
  };
}
