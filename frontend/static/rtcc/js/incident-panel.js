// The side panel for one incident: CAD facts, the cameras ranked for it and the nearest available
// units. "Open" puts a camera's live view in the camera dock (camera-dock.js); opening a stream is
// audited server-side, so it always says why (the incident).
import { ApiError, isAbort } from "./api.js";
import { createAssistSection } from "./assist-form.js";
import { clear, el } from "./dom.js";
import { formatAddress, formatAge, formatDateTime, titleCase } from "./format.js";
import { isOpenIncident, priorityClass } from "./layers/incidents.js";
import { cameraRankItem, unitRankItem } from "./ranked-items.js";

const RANK_LIMIT = 5;

function rankCameras(results) {
  // Stable sort: the server's order (distance) stays within each group.
  const score = (r) => (r.can_see ? 0 : r.in_view ? 1 : 2);
  return [...results].sort((a, b) => score(a) - score(b));
}

function section(title, body, className = "") {
  return el("section", { className: `sp-section ${className}`.trim() }, [el("h3", { text: title }), body]);
}

function placeholder(text, className = "sp-empty") {
  return el("div", { className, text });
}

function fact(label, value, className = "") {
  if (value === undefined || value === null || value === "") return null;
  return [el("dt", { text: label }), el("dd", { className, text: value })];
}

export function createIncidentPanel(root, { api, config, dock, onClose }) {
  const canStream = config.user.perms.includes("view_camera_stream");
  let controller = null;
  let current = null;
  let currentDetail = null; // the detail fetch's fields (assigned units) for a live re-render

  function hide() {
    if (controller) controller.abort();
    controller = null;
    current = null;
    currentDetail = null;
    root.hidden = true;
    root.classList.remove("open");
    clear(root);
    onClose();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && current) hide();
  });

  function header(props) {
    const p = priorityClass(props.priority);
    return el("header", { className: "sp-header" }, [
      el("span", { className: `priority-badge priority-${p}`, text: `P${props.priority ?? "?"}` }),
      el("div", { className: "sp-heading" }, [
        el("div", { className: "sp-cad mono", text: props.cad_number }),
        el("div", {
          className: "sp-type",
          text: [props.type_code, props.type_description].filter(Boolean).join(" · "),
        }),
      ]),
      el("button", {
        className: "sp-close",
        text: "×",
        attrs: { type: "button", "aria-label": "Close incident panel", title: "Close (Esc)" },
        on: { click: hide },
      }),
    ]);
  }

  function facts(props, detail) {
    const assigned = (detail?.assigned_units || []).map((u) => u.call_sign).join(", ");
    const rows = [
      fact("Status", titleCase(props.status), `status-chip status-${props.status}`),
      fact("Address", formatAddress(props.address, props.location_approximate)),
      fact("Received", props.received_at && `${formatDateTime(props.received_at)} · ${formatAge(props.received_at)}`),
      fact("Dispatched", formatDateTime(props.dispatched_at)),
      fact("Beat", props.beat),
      fact("Assigned", assigned),
    ].filter(Boolean).flat();
    return el("dl", { className: "sp-facts" }, rows);
  }

  function narrative(entries) {
    if (!entries || entries.length === 0) return placeholder("No narrative.");
    return el("ol", { className: "narrative" }, entries.map((entry) => el("li", {}, [
      el("div", { className: "narrative-meta" }, [
        el("span", { className: "mono", text: formatDateTime(entry.entered_at) }),
        entry.author ? el("span", { text: entry.author }) : null,
      ]),
      el("div", { className: "narrative-text", text: entry.text }),
    ])));
  }

  async function fill(slot, loader, render) {
    try {
      const data = await loader();
      slot.replaceWith(render(data));
    } catch (error) {
      if (isAbort(error)) return;
      const text = error instanceof ApiError && error.forbidden
        ? "Not available for your role."
        : `Could not load (${error.message}).`;
      slot.replaceWith(placeholder(text, "sp-error"));
    }
  }

  return {
    get incidentId() {
      return current ? current.id : null;
    },

    show(feature) {
      if (controller) controller.abort();
      controller = new AbortController();
      const { signal } = controller;
      const props = { ...(feature.properties || {}) };
      const incident = { id: feature.id, ...props };
      current = incident;
      currentDetail = null;

      const factsSlot = facts(props, null);
      const camerasSlot = placeholder("Ranking cameras…", "sp-loading");
      const unitsSlot = placeholder("Finding units…", "sp-loading");
      const narrativeSlot = placeholder("Loading narrative…", "sp-loading");
      // Playback (playback.js) listens for this: the hour around the call, on a time slider.
      const replay = el("button", {
        className: "btn btn-small sp-replay",
        text: "Replay the hour around this",
        attrs: { type: "button" },
        on: { click: () => document.dispatchEvent(new CustomEvent("rtcc:replay", { detail: { at: props.received_at, label: props.cad_number } })) },
      });
      clear(root).append(
        header(props),
        factsSlot,
        ...(config.user.perms.includes("playback") && props.received_at ? [replay] : []),
        section("Cameras that can see it", camerasSlot, "sp-cameras"),
        section("Nearest available units", unitsSlot, "sp-units"),
        section("RTCC assist", createAssistSection({ api, config, incidentId: feature.id, signal }), "sp-assist"),
        section("Narrative", narrativeSlot, "sp-narrative"),
      );
      root.dataset.incidentId = String(feature.id);
      root.dataset.status = props.status || "";
      root.hidden = false;
      root.classList.add("open");
      root.scrollTop = 0;

      const id = encodeURIComponent(feature.id);
      // The stream's audit record says why: this incident.
      const openCamera = canStream
        ? (cam) => dock.open(cam, {
          reason: `Incident ${incident.cad_number} (${incident.type_code || "call"})`,
          incident: incident.id,
        })
        : null;
      fill(camerasSlot, () => api.getJSON(`incidents/${id}/cameras/`, { limit: RANK_LIMIT }, { signal }), (data) => {
        const results = rankCameras(data.results || []);
        if (results.length === 0) return placeholder("No camera near this incident.");
        return el("ol", { className: "camera-rank-list" }, results.map((r) => cameraRankItem(r, openCamera)));
      });
      fill(unitsSlot, () => api.getJSON(`incidents/${id}/units/`, { limit: RANK_LIMIT }, { signal }), (data) => {
        const results = data.results || [];
        if (results.length === 0) return placeholder("No available unit with a position.");
        return el("ol", { className: "unit-rank-list" }, results.map(unitRankItem));
      });
      fill(narrativeSlot, () => api.getJSON(`incidents/${id}/`, {}, { signal }), (detail) => {
        if (current && current.id === feature.id) {
          currentDetail = detail.properties || detail;
          // A live update may have come in meanwhile: what `current` says is newer than the detail.
          const props2 = { ...currentDetail, ...current };
          root.querySelector(".sp-facts")?.replaceWith(facts(props2, currentDetail));
        }
        return narrative((detail.properties || detail).narrative);
      });
    },

    // A live update of the incident shown: header and facts follow it (rankings and camera tiles
    // stay as they are). A closed incident stays in the panel, marked as such.
    update(feature) {
      if (!current || Number(current.id) !== Number(feature.id)) return;
      const props = { ...(feature.properties || {}) };
      current = { ...current, ...props, id: feature.id };
      root.querySelector(".sp-header")?.replaceWith(header(props));
      const next = facts({ ...(currentDetail || {}), ...props }, currentDetail);
      root.querySelector(".sp-facts")?.replaceWith(next);
      next.classList.add("sp-updated");
      root.dataset.status = props.status || "";
      setBanner(isOpenIncident(props) ? "" : `${titleCase(props.status) || "Closed"}: no longer on the map.`);
    },

    markRemoved() {
      if (!current) return;
      setBanner("This incident was removed from CAD.");
    },

    hide,
  };

  function setBanner(text) {
    root.querySelector(".sp-banner")?.remove();
    if (!text) return;
    root.querySelector(".sp-header")?.after(el("div", { className: "sp-banner", attrs: { role: "status" }, text }));
  }
}
