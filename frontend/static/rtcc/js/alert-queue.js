// The alert queue: every open alert the user may see (not only those in the viewport), newest
// first, with its age. The header's alert counter (alert-cue.js) opens and closes it. Clicking an
// alert centres the map on it and shows, below the list, its details, the cameras ranked for its
// location (GET /api/alerts/{pk}/cameras/, the incident panel's ranking), the nearest available
// units, and the acknowledgement form (ack-form.js). An acknowledged alert, here or by anyone else
// (live update), leaves the queue.
//
// Live messages only cover the padded viewport (apps.live.consumer), so the queue also re-reads the
// open alerts over REST every minute and whenever it is opened.
import { createAckForm } from "./ack-form.js";
import { ApiError, isAbort } from "./api.js";
import { clear, el } from "./dom.js";
import { formatAge, formatDateTime, titleCase } from "./format.js";
import { cameraRankItem, unitRankItem } from "./ranked-items.js";

const LIST_LIMIT = 200;
const RANK_LIMIT = 5;
const REFRESH_MS = 60 * 1000;
const AGE_TICK_MS = 5 * 1000;
const SELECT_ZOOM = 16;
const GLYPHS = { hotlist_hit: "LPR", gunshot: "GS", panic: "SOS", sensor: "S" };

function raisedMs(feature) {
  const t = Date.parse(feature.properties?.raised_at || "");
  return Number.isNaN(t) ? 0 : t;
}

function hasPoint(feature) {
  return feature.geometry?.type === "Point";
}

// An alert the map cannot place (CAP geocodes no zone carries, a sensor that sends no position) is
// still listed, with the words its source used for the area.
function noLocationLine(feature) {
  return `no location — area: ${feature.properties?.area_desc || "not given"}`;
}

function placeholder(text, className = "sp-empty") {
  return el("div", { className, text });
}

function section(title, body, className) {
  return el("section", { className: `sp-section ${className}` }, [el("h3", { text: title }), body]);
}

export function createAlertQueue({ api, config, map, dock, alertsLayer, onCount = () => {} }) {
  const canAck = config.user.perms.includes("ack_alerts");
  const canStream = config.user.perms.includes("view_camera_stream");
  const open = new Map(); // id -> GeoJSON feature of an open alert
  const fresh = new Set(); // ids raised live since the queue last drew them (drawn with a cue)
  let total = 0; // open alerts on the server (more than LIST_LIMIT may exist)
  let selected = null;
  let controller = null;
  let loading = null;

  const countNode = el("span", { className: "aq-count" });
  const list = el("ol", { className: "aq-list", attrs: { "aria-label": "Open alerts, newest first" } });
  const more = el("div", { className: "aq-more" });
  const detail = el("div", { className: "aq-detail" });
  const root = el("aside", {
    className: "alert-queue",
    attrs: { id: "alert-queue", "aria-label": "Alert queue" },
  }, [
    el("header", { className: "aq-header" }, [
      el("span", { className: "aq-title", text: "Alerts" }),
      countNode,
      el("button", {
        className: "sp-close",
        text: "×",
        attrs: { type: "button", "aria-label": "Close the alert queue", title: "Close" },
        on: { click: () => hide() },
      }),
    ]),
    list,
    more,
    detail,
  ]);
  root.hidden = true;
  (document.querySelector(".workspace") || document.body).append(root);

  function sorted() {
    return [...open.values()].sort((a, b) => raisedMs(b) - raisedMs(a) || Number(b.id) - Number(a.id));
  }

  function item(feature) {
    const props = feature.properties || {};
    const id = Number(feature.id);
    const node = el("li", {
      className: `aq-item kind-${props.kind}${id === selected ? " selected" : ""}${fresh.has(id) ? " aq-new" : ""}`,
      dataset: { alertId: id },
    }, [
      el("button", {
        className: "aq-select",
        attrs: { type: "button", "aria-current": id === selected ? "true" : null },
        on: { click: () => select(id) },
      }, [
        el("span", { className: "aq-glyph", text: GLYPHS[props.kind] || "!", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "aq-main" }, [
          el("span", { className: "aq-name", text: props.title || titleCase(props.kind) }),
          el("span", { className: "aq-kind", text: titleCase(props.kind) }),
          hasPoint(feature) ? null : el("span", { className: "aq-no-location", text: noLocationLine(feature) }),
        ]),
        el("time", { className: "aq-age", text: formatAge(props.raised_at), attrs: { datetime: props.raised_at } }),
      ]),
    ]);
    return node;
  }

  function render() {
    const features = sorted();
    list.replaceChildren(...features.map(item));
    fresh.clear();
    if (!features.length) list.append(el("li", { className: "aq-empty", text: "No open alerts." }));
    total = Math.max(total, open.size);
    countNode.textContent = `${open.size} pending`;
    more.textContent = total > open.size ? `Showing the newest ${open.size} of ${total}.` : "";
    root.dataset.pending = String(open.size);
    onCount(open.size);
  }

  function tickAges() {
    for (const node of list.querySelectorAll("time.aq-age")) {
      node.textContent = formatAge(node.getAttribute("datetime"));
    }
  }

  async function load() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const data = await api.getJSON("alerts/", { status: "open", page_size: LIST_LIMIT });
        open.clear();
        for (const feature of data.features || []) open.set(Number(feature.id), feature);
        total = typeof data.count === "number" ? data.count : open.size;
        render();
        if (selected !== null && !open.has(selected)) showGone();
      } catch (error) {
        if (!(error instanceof ApiError && error.forbidden)) console.warn("rtcc: alert queue not loaded", error);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  // A live message or an acknowledgement made on this page.
  function upsert(feature) {
    const id = Number(feature.id);
    const status = (feature.properties || {}).status;
    if (status !== "open") {
      remove(id, status === "closed" ? `Closed (${feature.properties.close_reason || "by its source"})` : "Acknowledged");
      return;
    }
    if (!open.has(id)) {
      fresh.add(id);
      total += 1;
    }
    open.set(id, feature);
    render();
  }

  function remove(id, why = "Acknowledged") {
    id = Number(id);
    if (!open.delete(id)) return;
    total = Math.max(0, total - 1);
    render();
    if (selected === id) showGone(why);
  }

  function showGone(why = "Acknowledged") {
    selected = null;
    controller?.abort();
    clear(detail).append(placeholder(`${why}: the alert left the queue.`, "aq-gone"));
  }

  async function fill(slot, path, signal, render, empty) {
    try {
      const data = await api.getJSON(path, { limit: RANK_LIMIT }, { signal });
      const results = data.results || [];
      slot.replaceWith(results.length ? render(results) : placeholder(data.reason ? `None: ${data.reason}.` : empty));
    } catch (error) {
      if (isAbort(error)) return;
      const text = error instanceof ApiError && error.forbidden ? "Not available for your role." : `Could not load (${error.message}).`;
      slot.replaceWith(placeholder(text, "sp-error"));
    }
  }

  function select(id) {
    const feature = open.get(Number(id));
    if (!feature) return false;
    selected = Number(id);
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    for (const node of list.querySelectorAll(".aq-item")) {
      const on = Number(node.dataset.alertId) === selected;
      node.classList.toggle("selected", on);
      node.querySelector(".aq-select")?.toggleAttribute("aria-current", on);
    }
    const props = feature.properties || {};
    const coords = feature.geometry?.type === "Point" ? feature.geometry.coordinates : null;
    if (coords) {
      map.setView([coords[1], coords[0]], Math.max(map.getZoom(), SELECT_ZOOM));
      alertsLayer.highlight(selected);
    }
    const camerasSlot = placeholder("Ranking cameras…", "sp-loading");
    const unitsSlot = placeholder("Finding units…", "sp-loading");
    const facts = [
      ["Kind", titleCase(props.kind)],
      ["Raised", `${formatDateTime(props.raised_at)} · ${formatAge(props.raised_at)}`],
      ["Detail", props.detail],
      ["Location", coords ? `${coords[1].toFixed(5)}, ${coords[0].toFixed(5)}` : noLocationLine(feature)],
      ["Area", coords ? props.area_desc : ""],
      ["Expires", props.expires_at ? formatDateTime(props.expires_at) : ""],
    ].filter(([, value]) => value);
    clear(detail).append(
      el("div", { className: `aq-detail-head kind-${props.kind}` }, [
        el("span", { className: "aq-glyph", text: GLYPHS[props.kind] || "!", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "aq-detail-title", text: props.title || titleCase(props.kind) }),
      ]),
      el("dl", { className: "sp-facts" }, facts.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value })])),
      section("Nearby cameras", camerasSlot, "sp-cameras"),
      section("Nearest available units", unitsSlot, "sp-units"),
      canAck ? section("Acknowledge", createAckForm({ api, alert: feature, onDone: upsert, onGone: remove }), "aq-ack") : null,
    );
    detail.dataset.alertId = String(selected);
    const base = `alerts/${encodeURIComponent(selected)}`;
    fill(camerasSlot, `${base}/cameras/`, signal,
      (results) => el("ol", { className: "camera-rank-list" }, results.map((r) => cameraRankItem(r, canStream
        // The stream's audit record names the alert being worked.
        ? (cam) => dock.open(cam, { reason: `Alert ${feature.id}: ${feature.properties?.title || "alert"}` })
        : null))),
      "No camera near this alert.");
    fill(unitsSlot, `${base}/units/`, signal,
      (results) => el("ol", { className: "unit-rank-list" }, results.map(unitRankItem)),
      "No available unit with a position.");
    return true;
  }

  function hide() {
    root.hidden = true;
  }

  document.addEventListener("rtcc:alert-acknowledged", (event) => upsert(event.detail.feature));
  window.setInterval(tickAges, AGE_TICK_MS);
  window.setInterval(() => {
    if (!document.hidden) load();
  }, REFRESH_MS);
  if (config.user.perms.includes("view_layers")) load();

  return {
    root,
    load,
    // The header counter: open the queue (on the newest of `ids` still open, if any), or close it.
    async toggle(ids = []) {
      if (!root.hidden && !ids.length) {
        hide();
        return;
      }
      root.hidden = false;
      if (!ids.some((id) => open.has(Number(id)))) await load();
      else load();
      for (const id of ids) if (select(id)) break;
    },
    select,
    // A live message of the alerts layer.
    apply(message) {
      if (message.type === "feature.removed") remove(message.id);
      else if (message.feature) upsert(message.feature);
    },
  };
}
