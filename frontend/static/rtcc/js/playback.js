// Playback: replay units, incidents, alerts and gunshots over a past window (GET /api/playback/).
// The live layers are dimmed while it runs; the replay draws in its own pane; Exit returns to live.
// States at a time T follow the same rules as apps/playback/selectors.py (playback_state_at).
import { ApiError } from "./api.js";
import { clear, el } from "./dom.js";
import { formatDateTime, formatTime, roundsText, titleCase } from "./format.js";
import { L } from "./leaflet.js";
import { fromInputValue, incidentStatusAt, ms, toInputValue, unitPositionAt } from "./playback-time.js";

const PANE = "playback";
const PANE_Z = 480; // above every live layer
const WINDOWS = [["30", "30 min"], ["60", "1 hour"], ["120", "2 hours"], ["360", "6 hours"]];
const SPEEDS = [1, 10, 30, 60, 300];
const GUNSHOT_RECENT_MS = 15 * 60 * 1000; // as GUNSHOT_RECENT on the server
const PAD = 0.5; // the replay covers the view plus half of it on each side

export function createPlayback({ api, config, map, button }) {
  if (!map.getPane(PANE)) map.createPane(PANE).style.zIndex = String(PANE_Z);
  const group = L.layerGroup();
  const root = el("section", { className: "playback-panel", attrs: { "aria-label": "Playback", hidden: true } });
  map.getContainer().parentElement.append(root);

  let data = null;
  let startMs = 0;
  let endMs = 0;
  let t = 0;
  let playing = false;
  let speed = 60;
  let lastFrame = null;
  let drawn = [];

  const center = el("input", { className: "pb-input", attrs: { type: "datetime-local", required: true } });
  const span = el("select", { className: "pb-input" }, WINDOWS.map(([v, label]) => el("option", { text: label, attrs: { value: v } })));
  span.value = "60";
  const reason = el("input", {
    className: "pb-input pb-reason",
    attrs: { type: "text", placeholder: "Reason (case number)", maxlength: 500, required: true },
  });
  const message = el("div", { className: "pb-message", attrs: { role: "status" } });
  const slider = el("input", { className: "pb-slider", attrs: { type: "range", min: 0, max: 1000, value: 0, "aria-label": "Playback time" } });
  const clock = el("span", { className: "pb-clock mono" });
  const playButton = el("button", { className: "btn btn-small pb-play", text: "Play", attrs: { type: "button" } });
  const speedSelect = el("select", { className: "pb-input pb-speed", attrs: { "aria-label": "Speed" } },
    SPEEDS.map((s) => el("option", { text: `${s}×`, attrs: { value: s } })));
  speedSelect.value = String(speed);
  const summary = el("span", { className: "pb-summary" });
  const player = el("div", { className: "pb-player", attrs: { hidden: true } }, [
    playButton, speedSelect, slider, clock, summary,
  ]);
  const form = el("form", { className: "pb-form" }, [
    el("label", { className: "pb-field" }, ["Around", center]),
    el("label", { className: "pb-field" }, ["Window", span]),
    reason,
    el("button", { className: "btn btn-primary btn-small", text: "Load", attrs: { type: "submit" } }),
  ]);
  root.append(
    el("header", { className: "pb-head" }, [
      el("span", { className: "pb-title", text: "Playback" }),
      el("button", { className: "btn btn-ghost btn-small pb-exit", text: "Exit to live", attrs: { type: "button" }, on: { click: exit } }),
    ]),
    form,
    player,
    message,
  );

  function say(text, bad = false) {
    message.textContent = text;
    message.classList.toggle("bad", bad);
  }

  function open({ at, label } = {}) {
    const when = at ? new Date(at) : new Date(Date.now() - 60 * 60 * 1000);
    center.value = toInputValue(when, config.timeZone);
    root.hidden = false;
    map.getContainer().classList.add("playback-active");
    document.documentElement.dataset.playback = "setup";
    say(label ? `Replay the hour around ${label}: give a reason and load.` : "Pick a time, give a reason and load.");
    reason.focus();
  }

  function exit() {
    playing = false;
    group.clearLayers();
    map.removeLayer(group);
    drawn = [];
    data = null;
    player.hidden = true;
    root.hidden = true;
    map.getContainer().classList.remove("playback-active");
    delete document.documentElement.dataset.playback;
  }

  function viewportBbox() {
    const b = map.getBounds().pad(PAD);
    const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    return [
      clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
    ].map((v) => v.toFixed(6)).join(",");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mid = fromInputValue(center.value, config.timeZone);
    if (!mid) {
      say("Pick a valid time.", true);
      return;
    }
    const half = Number(span.value) * 30 * 1000;
    const start = new Date(mid.getTime() - half);
    const end = new Date(mid.getTime() + half);
    say("Loading…");
    try {
      const body = await api.getJSON("playback/", {
        start: start.toISOString(), end: end.toISOString(), in_bbox: viewportBbox(), reason: reason.value.trim(),
      });
      load(body);
    } catch (error) {
      const text = error instanceof ApiError ? error.detail || error.message : error.message;
      say(`Could not load: ${text}`, true);
    }
  });

  function load(body) {
    data = body;
    startMs = ms(body.start);
    endMs = ms(body.end);
    for (const unit of data.units) {
      for (const fix of unit.fixes) fix.ms = ms(fix.t);
    }
    group.clearLayers();
    drawn = [];
    buildMarkers();
    group.addTo(map);
    player.hidden = false;
    document.documentElement.dataset.playback = "ready";
    const cut = data.truncated.length ? ` (cut: ${data.truncated.join(", ")})` : "";
    summary.textContent = `${data.units.length} units · ${data.incidents.length} incidents · ${data.alerts.length} alerts · ${data.gunshots.length} gunshots${cut}`;
    say(`${formatDateTime(body.start)} – ${formatTime(body.end)}`);
    seek(startMs);
  }

  // Call signs, CAD numbers and alert titles come from feeds: a label is an element holding the
  // text (Leaflet would insert a string as HTML).
  function label(text) {
    return el("span", { text });
  }

  function marker(latlng, className, tooltip) {
    const m = L.circleMarker(latlng, { pane: PANE, radius: 7, className, weight: 2, fillOpacity: 0.9 });
    if (tooltip) m.bindTooltip(label(tooltip), { direction: "top", offset: [0, -6] });
    return m;
  }

  function buildMarkers() {
    for (const incident of data.incidents) {
      const m = marker([incident.lat, incident.lon], "pb-incident", `${incident.cad_number} ${incident.type_code}`);
      let shown = null;
      drawn.push({
        kind: "incident", item: incident, m,
        update(now) {
          const status = incidentStatusAt(incident, now);
          const visible = status && status !== "closed";
          show(m, visible ? [incident.lat, incident.lon] : null);
          if (!visible) return;
          // Leaflet draws a new element each time the marker is re-added, so the class is checked
          // on every frame, not only when the status changes.
          const cls = `leaflet-interactive pb-incident status-${status}`;
          const node = m.getElement();
          if (node && node.getAttribute("class") !== cls) node.setAttribute("class", cls);
          if (status !== shown) {
            shown = status;
            m.setTooltipContent(label(`${incident.cad_number} ${incident.type_code} · ${titleCase(status)}`));
          }
        },
      });
    }
    for (const alert of data.alerts) {
      if (alert.lat === null || alert.lon === null) continue;
      const m = marker([alert.lat, alert.lon], "pb-alert", alert.title);
      const raised = ms(alert.raised_at);
      // Off the map from its acknowledgement or its closing (cancelled, expired), whichever came first.
      const ended = [ms(alert.acknowledged_at), ms(alert.closed_at)].filter((t) => t !== null);
      const gone = ended.length ? Math.min(...ended) : null;
      drawn.push({
        kind: "alert", item: alert, m,
        update(now) {
          show(m, raised <= now && (gone === null || gone > now) ? [alert.lat, alert.lon] : null);
        },
      });
    }
    for (const shot of data.gunshots) {
      const m = marker([shot.lat, shot.lon], "pb-gunshot", `Gunshot · ${roundsText(shot.rounds)}`);
      const at = ms(shot.detected_at);
      drawn.push({
        kind: "gunshot", item: shot, m,
        update(now) {
          const age = now - at;
          const visible = age >= 0 && age < GUNSHOT_RECENT_MS;
          show(m, visible ? [shot.lat, shot.lon] : null);
          if (visible) m.setStyle({ opacity: 1 - age / GUNSHOT_RECENT_MS, fillOpacity: 0.9 * (1 - age / GUNSHOT_RECENT_MS) });
        },
      });
    }
    // Units last, so they are drawn above the calls they drive to.
    for (const unit of data.units) {
      // Only the permanent label: Leaflet wires a marker's tooltip events once, for its first tooltip.
      const m = marker([0, 0], "pb-unit", null);
      m.bindTooltip(label(unit.call_sign), { permanent: true, direction: "right", className: "pb-unit-label", offset: [8, 0] });
      const trail = L.polyline([], { pane: PANE, className: "pb-trail", weight: 2, interactive: false });
      drawn.push({
        kind: "unit", item: unit, m, trail,
        update(now) {
          const at = unitPositionAt(unit.fixes, now);
          if (show(m, at)) m.bringToFront();
          const past = unit.fixes.filter((fx) => fx.ms <= now).map((fx) => [fx.lat, fx.lon]);
          if (at) past.push(at);
          trail.setLatLngs(past);
          if (past.length > 1 && !group.hasLayer(trail)) {
            group.addLayer(trail);
            trail.bringToBack();
          }
        },
      });
    }
  }

  function show(m, latlng) {
    if (!latlng) {
      if (group.hasLayer(m)) group.removeLayer(m);
      return false;
    }
    m.setLatLng(latlng);
    if (group.hasLayer(m)) return false;
    group.addLayer(m);
    return true;
  }

  function seek(now) {
    t = Math.min(Math.max(now, startMs), endMs);
    for (const d of drawn) d.update(t);
    slider.value = String(Math.round(((t - startMs) / (endMs - startMs)) * 1000));
    clock.textContent = formatDateTime(new Date(t).toISOString());
    root.dataset.t = new Date(t).toISOString();
    const counts = { unit: 0, incident: 0, alert: 0, gunshot: 0 };
    for (const d of drawn) if (group.hasLayer(d.m)) counts[d.kind] += 1;
    root.dataset.visible = `${counts.unit},${counts.incident},${counts.alert},${counts.gunshot}`;
  }

  function frame(stamp) {
    if (!playing) return;
    if (lastFrame !== null) seek(t + (stamp - lastFrame) * speed);
    lastFrame = stamp;
    if (t >= endMs) {
      setPlaying(false);
      return;
    }
    window.requestAnimationFrame(frame);
  }

  function setPlaying(on) {
    playing = on && Boolean(data);
    playButton.textContent = playing ? "Pause" : "Play";
    lastFrame = null;
    if (playing) {
      if (t >= endMs) seek(startMs);
      window.requestAnimationFrame(frame);
    }
  }

  playButton.addEventListener("click", () => setPlaying(!playing));
  speedSelect.addEventListener("change", () => {
    speed = Number(speedSelect.value);
  });
  slider.addEventListener("input", () => {
    seek(startMs + (Number(slider.value) / 1000) * (endMs - startMs));
  });

  if (button) {
    button.hidden = !config.user.perms.includes("playback");
    button.addEventListener("click", () => (root.hidden ? open() : exit()));
  }
  // The incident panel (and anything else) asks for "the hour around this" with an event.
  document.addEventListener("rtcc:replay", (event) => {
    if (!config.user.perms.includes("playback")) return;
    open(event.detail || {});
  });

  return { open, exit, get active() { return !root.hidden; } };
}
