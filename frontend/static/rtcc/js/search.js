// The search box in the top bar. As the operator types it finds incidents (CAD number, address),
// units (call sign), cameras (name, owner id) and zones (GET /api/search/), grouped by kind; a
// query that looks like a plate also offers a plate search, which asks for a reason first (plate
// searches are audited: GET /api/search/plates/). `/` focuses the box, arrows and Enter pick a
// result, Escape closes the list. Picking one flies the map there: an incident opens its panel, a
// unit is ringed, a camera opens its popup, a zone is fitted, a plate read is marked.
import { isAbort } from "./api.js";
import { append, clear, el, infoCard } from "./dom.js";
import { formatDateTime } from "./format.js";
import { L } from "./leaflet.js";

const DEBOUNCE_MS = 200;
const MIN_CHARS = 2;
const MAX_CHARS = 100;
const PLATE_MAX_CHARS = 20;
const FLY_ZOOM = 17;
const HIGHLIGHT_MS = 10000;
// How long to wait for a layer to draw the marker picked (it reloads once the map has moved).
const MARKER_WAIT_MS = 8000;
const KIND_LABELS = {
  incident: "Incidents",
  unit: "Units",
  camera: "Cameras",
  zone: "Zones",
  plate: "Plate reads",
};
const MONO_KINDS = new Set(["incident", "unit", "plate"]);

// Letters and digits (two or more, at least one digit), optionally with spaces, dashes or `*`
// wildcards: what a plate typed from memory looks like.
export function looksLikePlate(text) {
  const value = text.trim();
  if (value.length > PLATE_MAX_CHARS || !/^[A-Za-z0-9*][A-Za-z0-9 *-]*$/.test(value)) return false;
  const alnum = value.replace(/[^A-Za-z0-9]/g, "");
  return alnum.length >= 2 && /\d/.test(alnum);
}

function typingIn(target) {
  if (!target || !(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}

function latLngOf(result) {
  return Array.isArray(result.point) ? L.latLng(result.point[1], result.point[0]) : null;
}

// The element for `selector` once the map has reloaded its layers for the view (main.js marks the
// page "ready"), or null after `timeout`: a marker found mid-reload may be about to be replaced.
function waitFor(selector, timeout) {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeout;
    const look = () => {
      const ready = document.documentElement.dataset.rtccState === "ready";
      const node = ready ? document.querySelector(selector) : null;
      if (node || Date.now() > deadline) resolve(node);
      else window.setTimeout(look, 100);
    };
    look();
  });
}

export function createSearch(root, { api, config, map, selectIncident }) {
  const canSearchPlates = (config.user?.perms || []).includes("search_plates");
  const listId = "search-results";
  const input = el("input", {
    className: "search-input",
    attrs: {
      id: "search-input",
      type: "search",
      placeholder: "Search CAD #, address, unit, camera, plate",
      autocomplete: "off",
      spellcheck: "false",
      maxlength: MAX_CHARS,
      role: "combobox",
      "aria-label": "Search the map",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": listId,
      "aria-keyshortcuts": "/",
    },
  });
  const hint = el("kbd", { className: "search-key", text: "/", attrs: { "aria-hidden": "true" } });
  const dropdown = el("div", { className: "search-dropdown", attrs: { id: listId, role: "listbox" } });
  dropdown.hidden = true;
  clear(root).append(input, hint, dropdown);

  let options = []; // [{ node, choose }]
  let active = -1;
  let timer = null;
  let controller = null;
  let mode = "text"; // "text" | "reason" | "plates"
  let marker = null; // the ring this module put on the map, for a few seconds
  let markerTimer = null;

  // ---- the dropdown --------------------------------------------------------------------------

  function open() {
    dropdown.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    dropdown.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    if (mode === "reason") mode = "text";
  }

  function setActive(index) {
    active = options.length ? (index + options.length) % options.length : -1;
    options.forEach((option, i) => option.node.setAttribute("aria-selected", i === active ? "true" : "false"));
    const current = options[active];
    if (current) {
      input.setAttribute("aria-activedescendant", current.node.id);
      current.node.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function option({ kind, label, sublabel, className = "", choose }) {
    const node = el("div", {
      className: `search-option kind-${kind} ${className}`.trim(),
      attrs: { id: `search-option-${options.length}`, role: "option", "aria-selected": "false" },
      dataset: { kind },
    }, [
      el("span", { className: `search-label${MONO_KINDS.has(kind) ? " mono" : ""}`, text: label }),
      sublabel ? el("span", { className: "search-sublabel", text: sublabel }) : null,
    ]);
    const index = options.length;
    // mousedown would move the focus out of the box (and close the list) before the click lands.
    node.addEventListener("mousedown", (event) => event.preventDefault());
    node.addEventListener("mousemove", () => active !== index && setActive(index));
    node.addEventListener("click", () => choose());
    options.push({ node, choose });
    return node;
  }

  function group(kind, title, nodes) {
    return el("div", { className: `search-group group-${kind}`, attrs: { role: "group", "aria-label": title } }, [
      el("div", { className: "search-group-title", text: title, attrs: { "aria-hidden": "true" } }),
      ...nodes,
    ]);
  }

  function note(text, className = "") {
    return el("div", { className: `search-note ${className}`.trim(), text });
  }

  function render(children) {
    options = [];
    active = -1;
    dropdown.setAttribute("role", "listbox");
    dropdown.removeAttribute("aria-label");
    append(clear(dropdown), children());
    open();
    if (options.length) setActive(0);
  }

  // ---- text search -----------------------------------------------------------------------------

  function plateOffer(query) {
    return group("plate", "Plates", [
      option({
        kind: "plate-offer",
        label: `Search plate “${query.trim().toUpperCase()}”…`,
        sublabel: "needs a reason; audited",
        choose: () => askReason(query.trim()),
      }),
    ]);
  }

  function showResults(query, data) {
    render(() => {
      const children = [];
      for (const { kind, results } of data.groups || []) {
        if (!results.length) continue;
        children.push(group(kind, KIND_LABELS[kind] || kind, results.map((result) => option({
          kind,
          label: result.label,
          sublabel: result.sublabel,
          choose: () => pick(result),
        }))));
      }
      const plate = canSearchPlates && looksLikePlate(query);
      if (!children.length) children.push(note(`No matches for “${query}”.`, "search-empty"));
      if (plate) children.push(plateOffer(query));
      return children;
    });
  }

  async function runSearch(query) {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    root.dataset.state = "loading";
    try {
      const data = await api.getJSON("search/", { q: query }, { signal });
      if (input.value.trim() !== query || mode !== "text") return;
      showResults(query, data);
      root.dataset.state = "ready";
    } catch (error) {
      if (isAbort(error)) return;
      root.dataset.state = "error";
      render(() => [note(`Search failed: ${error.message}`, "search-error")]);
    }
  }

  function onInput() {
    mode = "text";
    window.clearTimeout(timer);
    controller?.abort();
    const query = input.value.trim();
    if (query.length < MIN_CHARS) {
      delete root.dataset.state;
      if (query) render(() => [note(`Type at least ${MIN_CHARS} characters.`)]);
      else close();
      return;
    }
    timer = window.setTimeout(() => runSearch(query), DEBOUNCE_MS);
  }

  // ---- plate search ----------------------------------------------------------------------------

  function askReason(plate) {
    controller?.abort();
    mode = "reason";
    options = [];
    active = -1;
    input.removeAttribute("aria-activedescendant");
    const reason = el("input", {
      className: "search-reason-input",
      attrs: {
        id: "search-reason",
        type: "text",
        maxlength: 500,
        autocomplete: "off",
        placeholder: "Case number or reason",
        "aria-label": `Reason for searching plate ${plate}`,
      },
    });
    const problem = el("div", { className: "search-reason-problem", attrs: { role: "alert" } });
    const submit = () => {
      const why = reason.value.trim();
      if (!why) {
        problem.textContent = "A plate search needs a reason (e.g. a case number).";
        reason.focus();
        return;
      }
      searchPlate(plate, why);
    };
    reason.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        mode = "text";
        input.focus();
        onInput();
      }
    });
    const form = el("div", { className: "search-reason" }, [
      el("label", { className: "search-reason-label", attrs: { for: "search-reason" } }, [
        "Why are you searching plate ",
        el("span", { className: "mono", text: plate.toUpperCase() }),
        "?",
      ]),
      reason,
      problem,
      el("div", { className: "search-reason-actions" }, [
        el("span", { className: "search-reason-audit", text: "The search and its reason are recorded." }),
        el("button", {
          className: "btn btn-ghost btn-small",
          text: "Cancel",
          attrs: { type: "button" },
          on: { click: () => { mode = "text"; input.focus(); onInput(); } },
        }),
        el("button", {
          className: "btn btn-primary btn-small search-reason-submit",
          text: "Search plate",
          attrs: { type: "button" },
          on: { click: submit },
        }),
      ]),
    ]);
    clear(dropdown).append(form);
    // While it asks for a reason the list is a small form, not a list of choices.
    dropdown.setAttribute("role", "dialog");
    dropdown.setAttribute("aria-label", `Plate search: ${plate.toUpperCase()}`);
    open();
    reason.focus();
  }

  async function searchPlate(plate, reason) {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    mode = "plates";
    root.dataset.state = "loading";
    clear(dropdown).append(note(`Searching plate ${plate.toUpperCase()}…`));
    try {
      const data = await api.getJSON("search/plates/", { plate, reason }, { signal });
      root.dataset.state = "ready";
      input.focus();
      render(() => {
        const title = `Reads of ${plate.toUpperCase()} (${data.count})`;
        if (!data.results.length) return [group("plate", title, []), note("No reads of this plate.", "search-empty")];
        const reads = data.results.map((read) => option({
          kind: "plate",
          label: read.label,
          sublabel: [formatDateTime(read.read_at), read.site || "mobile reader", read.hit ? `HIT: ${read.hit.reason}` : ""]
            .filter(Boolean).join(" · "),
          className: read.hit ? "is-hit" : "",
          choose: () => pick(read),
        }));
        return [
          group("plate", title, reads),
          data.truncated ? note(`Newest ${data.results.length} shown.`) : null,
          note(`Recorded with reason “${reason}”.`, "search-audit-note"),
        ].filter(Boolean);
      });
    } catch (error) {
      if (isAbort(error)) return;
      root.dataset.state = "error";
      mode = "text";
      render(() => [note(`Plate search failed: ${error.detail || error.message}`, "search-error")]);
    }
  }

  // ---- going there -----------------------------------------------------------------------------

  // Fly so the point lands in the middle of the map area the panels leave free.
  function flyTo(latlng, zoom) {
    const target = Math.min(Math.max(zoom, map.getZoom()), map.getMaxZoom());
    const width = (id) => {
      const node = document.getElementById(id);
      return node && !node.hidden ? node.offsetWidth : 0;
    };
    const shift = (width("side-panel") - width("layer-panel")) / 2;
    const center = map.unproject(map.project(latlng, target).add([shift, 0]), target);
    map.flyTo(center, target, { duration: 0.8 });
  }

  function clearMarker() {
    window.clearTimeout(markerTimer);
    if (marker) map.removeLayer(marker);
    marker = null;
  }

  function ring(latlng) {
    clearMarker();
    marker = L.marker(latlng, {
      icon: L.divIcon({ className: "search-ring", html: el("span", { className: "search-ring-pulse" }), iconSize: [0, 0] }),
      interactive: false,
      keyboard: false,
      zIndexOffset: 1000,
    }).addTo(map);
    markerTimer = window.setTimeout(clearMarker, HIGHLIGHT_MS);
  }

  // Once the fly ends (or soon anyway, should the map not need to move).
  function afterMove(run) {
    let done = false;
    const go = () => {
      if (done) return;
      done = true;
      map.off("moveend", go);
      window.setTimeout(run, 0);
    };
    map.on("moveend", go);
    window.setTimeout(go, 2000);
  }

  function popupAt(latlng, title, rows, subtitle) {
    L.popup({ className: "rtcc-popup", maxWidth: 320, autoPan: false })
      .setLatLng(latlng)
      .setContent(infoCard(title, rows, { subtitle }))
      .openOn(map);
  }

  async function pickIncident(result, latlng) {
    try {
      const feature = await api.getJSON(`incidents/${encodeURIComponent(result.id)}/`);
      selectIncident(feature);
      flyTo(latlng, FLY_ZOOM);
    } catch (error) {
      status(`Could not open ${result.label}: ${error.message}`);
    }
  }

  function pick(result) {
    const latlng = latLngOf(result);
    if (!latlng && !Array.isArray(result.bbox)) {
      status(`${result.label} has no known position.`);
      return;
    }
    close();
    input.blur();
    if (result.kind === "zone" && Array.isArray(result.bbox)) {
      const [w, s, e, n] = result.bbox;
      map.flyToBounds([[s, w], [n, e]], { padding: [60, 60], duration: 0.8 });
      return;
    }
    if (result.kind === "incident") {
      pickIncident(result, latlng);
    } else if (result.kind === "unit") {
      // A ring of our own: the units layer redraws its markers as they report, so a class put on
      // one would not last.
      afterMove(() => ring(latlng));
      flyTo(latlng, FLY_ZOOM);
    } else if (result.kind === "camera") {
      afterMove(async () => {
        const node = await waitFor(`.camera-marker[data-camera-id="${Number(result.id)}"]`, MARKER_WAIT_MS);
        // The layer's own popup when its marker is drawn; otherwise (layer off) what we know.
        if (node) node.click();
        else popupAt(latlng, result.label, [["", result.sublabel]]);
      });
      flyTo(latlng, FLY_ZOOM);
    } else if (result.kind === "plate") {
      afterMove(() => {
        ring(latlng);
        popupAt(latlng, result.label, [
          ["Read", formatDateTime(result.read_at)],
          ["Site", result.site || "mobile reader"],
          ["Hit", result.hit ? `${result.hit.reason} (${result.hit.hotlist})` : ""],
        ]);
      });
      flyTo(latlng, FLY_ZOOM);
    }
  }

  function status(text) {
    render(() => [note(text, "search-error")]);
  }

  // ---- keyboard --------------------------------------------------------------------------------

  input.addEventListener("input", onInput);
  input.addEventListener("focus", () => {
    if (input.value.trim().length >= MIN_CHARS && dropdown.hidden && mode === "text") onInput();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (dropdown.hidden) {
        onInput();
        return;
      }
      setActive(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      window.clearTimeout(timer);
      const query = input.value.trim();
      if (options[active]) options[active].choose();
      else if (query.length >= MIN_CHARS && mode === "text") runSearch(query);
    } else if (event.key === "Escape") {
      // The list closes first; the incident panel (which also closes on Escape) stays open.
      event.stopPropagation();
      if (!dropdown.hidden) close();
      else input.blur();
    }
  });
  root.addEventListener("focusout", (event) => {
    if (!root.contains(event.relatedTarget)) close();
  });
  document.addEventListener("mousedown", (event) => {
    if (!dropdown.hidden && !root.contains(event.target)) close();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
    event.preventDefault();
    input.focus();
    input.select();
  });

  return { input, focus: () => input.focus() };
}
