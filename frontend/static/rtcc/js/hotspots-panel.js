// The planner's hotspot panel: asks /api/hotspots/runs/ for a KDE heat surface, Gi* hexagons, a period
// comparison or the coverage gaps, filtered by type, dates, hours and weekdays; polls the run until it is
// computed and draws it with its legend. Shown only to roles with view_analytics.
import { el } from "./dom.js";
import {
  CLASS_COLORS, CLASS_LABELS, TREND_COLORS, TREND_LABELS, createHotspotsLayer, kdeColor,
} from "./layers/hotspots.js";

const PERM = "view_analytics";
const POLL_MS = 1500;
const POLL_LIMIT = 400; // 10 minutes: the task's own time limit
const KINDS = [
  ["gistar", "Gi* hot spots (H3 hexagons)"],
  ["kde", "Heat surface (kernel density)"],
  ["compare", "Compare two periods"],
  ["gaps", "Camera coverage gaps"],
];
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function field(label, control, className = "") {
  return el("label", { className: `hs-field ${className}`.trim() }, [el("span", { text: label }), control]);
}

function hourSelect(name) {
  const select = el("select", { attrs: { name } }, [el("option", { attrs: { value: "" }, text: "any" })]);
  for (let h = 0; h < 24; h += 1) {
    select.append(el("option", { attrs: { value: String(h) }, text: `${String(h).padStart(2, "0")}:00` }));
  }
  return select;
}

function legendFor(kind) {
  const swatch = (color, label, extra = "") => {
    const chip = el("span", { className: `hs-swatch ${extra}`.trim() });
    chip.style.background = color; // through the CSSOM: the CSP allows no style attributes
    return el("span", { className: "hs-legend-item" }, [chip, label]);
  };
  if (kind === "kde") {
    return [swatch(kdeColor(0.05), "low"), swatch(kdeColor(0.5), ""), swatch(kdeColor(0.99), "peak density")];
  }
  if (kind === "compare") return Object.entries(TREND_COLORS).map(([k, c]) => swatch(c, TREND_LABELS[k]));
  if (kind === "gaps") {
    return [swatch("#ff453a", "Hot, cameras see little of it", "dashed"), swatch("#30d158", "Hot, covered")];
  }
  return Object.entries(CLASS_COLORS).map(([k, c]) => swatch(c, CLASS_LABELS[k]));
}

export function createHotspotsPanel(root, { api, config, map }) {
  if (!root || !config.user.perms.includes(PERM)) return null;
  const layer = createHotspotsLayer({ map });
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 27 * 86400 * 1000);

  const kind = el("select", { attrs: { name: "kind" } }, KINDS.map(([v, t]) => el("option", { attrs: { value: v }, text: t })));
  const types = el("input", { attrs: { name: "types", type: "text", placeholder: "all types, or e.g. BURGLARY,ROBBERY" } });
  const start = el("input", { attrs: { name: "start", type: "date", value: isoDay(monthAgo) } });
  const end = el("input", { attrs: { name: "end", type: "date", value: isoDay(today) } });
  const hourStart = hourSelect("hour_start");
  const hourEnd = hourSelect("hour_end");
  const dayBoxes = DAYS.map((name, i) => el("label", { className: "hs-day" }, [
    el("input", { attrs: { type: "checkbox", name: "days", value: String(i + 1) } }), name,
  ]));
  const resolution = el("select", { attrs: { name: "resolution" } }, [7, 8, 9, 10].map((r) => (
    el("option", { attrs: { value: String(r), selected: r === 8 }, text: `H3 ${r}` })
  )));
  const bandwidth = el("input", { attrs: { name: "bandwidth_m", type: "number", min: 50, max: 3000, step: 50, value: 300 } });
  const compareStart = el("input", { attrs: { name: "compare_start", type: "date" } });
  const compareEnd = el("input", { attrs: { name: "compare_end", type: "date" } });
  const status = el("div", { className: "hs-status", attrs: { role: "status", "aria-live": "polite" } });
  const legend = el("div", { className: "hs-legend" });
  const runButton = el("button", { className: "btn btn-small", attrs: { type: "submit" }, text: "Run" });
  const clearButton = el("button", { className: "btn btn-ghost btn-small", attrs: { type: "button" }, text: "Clear" });

  const gridOnly = field("Grid", resolution, "hs-grid");
  const kdeOnly = field("Bandwidth (m)", bandwidth, "hs-kde");
  const compareOnly = el("div", { className: "hs-compare" }, [
    el("div", { className: "hs-hint", text: "Period B (empty: the same dates a year earlier)" }),
    el("div", { className: "hs-row" }, [field("From", compareStart), field("To", compareEnd)]),
  ]);

  const form = el("form", { className: "hs-form" }, [
    field("Show", kind),
    field("Incident types", types),
    el("div", { className: "hs-row" }, [field("From", start), field("To", end)]),
    el("div", { className: "hs-row" }, [field("Hours from", hourStart), field("to", hourEnd)]),
    el("div", { className: "hs-days", attrs: { role: "group", "aria-label": "Days of week" } }, dayBoxes),
    gridOnly, kdeOnly, compareOnly,
    el("div", { className: "hs-actions" }, [runButton, clearButton]),
    status,
    legend,
  ]);

  const body = el("div", { className: "hs-body", attrs: { id: "hotspots-body" } }, [form]);
  const toggle = el("button", {
    className: "panel-collapse",
    attrs: { type: "button", "aria-expanded": "false", "aria-controls": "hotspots-body" },
    text: "Show",
  });
  root.append(el("div", { className: "panel-head" }, [el("h2", { text: "Hotspots" }), toggle]), body);
  root.hidden = false;
  root.classList.add("collapsed");
  toggle.addEventListener("click", () => {
    const collapsed = root.classList.toggle("collapsed");
    toggle.textContent = collapsed ? "Show" : "Hide";
    toggle.setAttribute("aria-expanded", String(!collapsed));
  });

  function showKindFields() {
    const k = kind.value;
    gridOnly.hidden = k === "kde";
    kdeOnly.hidden = k !== "kde";
    compareOnly.hidden = k !== "compare";
  }
  kind.addEventListener("change", showKindFields);
  showKindFields();

  function params() {
    const k = kind.value;
    const out = { start: start.value, end: end.value };
    const codes = types.value.split(",").map((t) => t.trim().toUpperCase()).filter(Boolean);
    if (codes.length) out.types = codes;
    if (hourStart.value !== "" || hourEnd.value !== "") {
      out.hour_start = hourStart.value === "" ? 0 : Number(hourStart.value);
      out.hour_end = hourEnd.value === "" ? 23 : Number(hourEnd.value);
    }
    const days = dayBoxes.map((d) => d.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.value));
    if (days.length) out.days = days;
    if (k === "kde") out.bandwidth_m = Number(bandwidth.value);
    else out.resolution = Number(resolution.value);
    if (k === "compare") {
      if (compareStart.value) out.compare_start = compareStart.value;
      if (compareEnd.value) out.compare_end = compareEnd.value;
    }
    return out;
  }

  function say(text, state = "") {
    status.dataset.state = state;
    status.textContent = text;
  }

  function describe(run) {
    const s = run.summary || {};
    if (run.kind === "gaps") return `${s.gaps ?? 0} gap(s) among ${s.hot_cells ?? 0} hot cell(s)`;
    if (run.kind === "kde") return `${s.cells ?? 0} cells, peak ${s.peak_per_km2 ?? 0}/km²`;
    if (run.kind === "compare") {
      const t = s.trends || {};
      return `A ${s.count_a} vs B ${s.count_b} incidents · ${t.new ?? 0} new, ${t.persistent ?? 0} persistent, ${t.cooled ?? 0} cooled hot cells`;
    }
    const c = s.classes || {};
    return `${(c.hot99 ?? 0) + (c.hot95 ?? 0)} hot cells at 95%+ of ${s.cells ?? 0}`;
  }

  let generation = 0;

  function draw(run) {
    const count = layer.show(run);
    legend.replaceChildren(...legendFor(run.kind));
    root.dataset.runStatus = "done";
    say(`${run.incident_count ?? 0} incidents · ${describe(run)}${count ? "" : " · nothing to draw"}`, "done");
    const bounds = layer.bounds();
    if (bounds && bounds.isValid() && !map.getBounds().intersects(bounds)) map.fitBounds(bounds, { padding: [40, 40] });
  }

  async function poll(id, mine) {
    for (let i = 0; i < POLL_LIMIT && mine === generation; i += 1) {
      const run = await api.getJSON(`hotspots/runs/${id}/`);
      if (mine !== generation) return;
      if (run.status === "done") return draw(run);
      if (run.status === "failed") {
        root.dataset.runStatus = "failed";
        return say(`Failed: ${run.error}`, "error");
      }
      say(run.status === "running" ? "Computing…" : "Queued…", "busy");
      await new Promise((resolve) => { window.setTimeout(resolve, POLL_MS); });
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    generation += 1;
    const mine = generation;
    root.dataset.runStatus = "busy";
    say("Asking…", "busy");
    try {
      const run = await api.postJSON("hotspots/runs/", { kind: kind.value, params: params() });
      if (run.status === "done" && run.result) draw(run);
      else await poll(run.id, mine);
    } catch (error) {
      root.dataset.runStatus = "failed";
      say(error.status === 400 ? `Check: ${error.detail}` : `Could not run: ${error.message}`, "error");
    }
  });

  clearButton.addEventListener("click", () => {
    generation += 1;
    layer.clear();
    legend.replaceChildren();
    root.dataset.runStatus = "";
    say("");
  });

  return { layer };
}
