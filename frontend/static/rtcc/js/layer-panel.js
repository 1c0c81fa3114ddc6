// The layer panel: one row per layer with its switch, legend, feature count and any note.
import { el } from "./dom.js";

const STORAGE_KEY = "rtcc.layers.hidden";

function loadHidden() {
  try {
    return new Set(JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function saveHidden(hidden) {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify([...hidden]));
  } catch {
    // Private windows may refuse storage; the switches still work for this page.
  }
}

export function createLayerPanel(root, layers, { onToggle }) {
  const hidden = loadHidden();
  const rows = new Map();
  let collapsed = false;

  const list = el("ul", { className: "layer-list" });
  const toggle = el("button", {
    className: "panel-collapse",
    attrs: { type: "button", "aria-expanded": "true", "aria-controls": "layer-list" },
    text: "Hide",
  });
  list.id = "layer-list";
  toggle.addEventListener("click", () => {
    collapsed = !collapsed;
    root.classList.toggle("collapsed", collapsed);
    toggle.textContent = collapsed ? "Show" : "Hide";
    toggle.setAttribute("aria-expanded", String(!collapsed));
  });
  root.append(el("div", { className: "panel-head" }, [el("h2", { text: "Layers" }), toggle]), list);

  for (const layer of layers) {
    const input = el("input", {
      attrs: { type: "checkbox", id: `layer-toggle-${layer.id}`, name: layer.id },
    });
    // A layer marked defaultOff stays off until switched on, which is remembered as "+id".
    const shownKey = `+${layer.id}`;
    input.checked = layer.defaultOff ? hidden.has(shownKey) : !hidden.has(layer.id);
    const count = el("span", { className: "layer-count", attrs: { "aria-label": "features shown" } });
    const note = el("div", { className: "layer-note" });
    const legend = el("div", { className: "layer-legend" }, (layer.legend || []).map((item) => (
      el("span", { className: "legend-item" }, [el("span", { className: item.className }), item.label])
    )));
    const row = el("li", { className: "layer-row", dataset: { layer: layer.id } }, [
      el("label", { className: "layer-label", attrs: { for: input.id } }, [
        input,
        el("span", { className: "switch", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "layer-name", text: layer.label }),
        count,
      ]),
      legend,
      note,
    ]);
    input.addEventListener("change", () => {
      if (layer.defaultOff) {
        if (input.checked) hidden.add(shownKey);
        else hidden.delete(shownKey);
      } else if (input.checked) hidden.delete(layer.id);
      else hidden.add(layer.id);
      saveHidden(hidden);
      row.classList.toggle("off", !input.checked);
      onToggle(layer, input.checked);
    });
    row.classList.toggle("off", !input.checked);
    rows.set(layer.id, { row, input, count, note });
    list.append(row);
  }

  return {
    isEnabled(id) {
      const entry = rows.get(id);
      return Boolean(entry && entry.input.checked && !entry.input.disabled);
    },
    // state: { loading, count, note, error, denied, truncated }
    setState(id, state) {
      const entry = rows.get(id);
      if (!entry) return;
      const { row, input, count, note } = entry;
      row.classList.toggle("loading", Boolean(state.loading));
      row.classList.toggle("error", Boolean(state.error));
      row.classList.toggle("denied", Boolean(state.denied));
      if (state.denied) {
        input.checked = false;
        input.disabled = true;
        row.classList.add("off");
      }
      if (state.count !== undefined) {
        count.textContent = state.truncated ? `${state.count}+` : String(state.count);
      }
      if (state.denied) count.textContent = "—";
      const text = state.error || state.note || "";
      note.textContent = state.truncated && !state.error ? `${text}${text ? " · " : ""}zoom in to see all` : text;
    },
  };
}
