// The video wall (wall.html): main.js draws the map and keeps it current (live socket, or reloads
// while it is down); this module fills the grid beside it with live camera tiles.
//
// Every tile's stream is opened through POST /api/cameras/{pk}/stream/ with display "wall", so the
// audit trail says that the picture went up on the room's wall, for which incident or purpose, and
// who signed the wall in. A picture that drops is re-connected by the player on the same URL (no new
// audit record) while its grant lasts, and the grant is renewed by an audited re-open before it
// ends (RTCC_STREAM_GRANT_SECONDS); the whole page reloads every hour, which re-ranks an incident's cameras and leaves
// a fresh audit record for each stream still on the wall.
import { ApiError, createApi } from "./api.js";
import { createPlayer } from "./camera-player.js";
import { clear, el } from "./dom.js";

// A stream the server could not hand out for a passing reason (network, 5xx) is asked for again.
const REOPEN_MS = 30 * 1000;
const PAGE_RELOAD_MS = 60 * 60 * 1000;
const STATE_LABELS = {
  waiting: "Waiting…",
  connecting: "Connecting…",
  playing: "Live",
  reconnecting: "Reconnecting…",
  unsupported: "Not playable here",
  refused: "Not available",
};

const config = JSON.parse(document.getElementById("rtcc-config").textContent);
const wall = config.wall;
const api = createApi(config);
const grid = document.getElementById("wall-grid");
const { cols, rows } = wall.layout;
grid.style.setProperty("--wall-cols", String(cols));
grid.style.setProperty("--wall-rows", String(rows));
grid.dataset.layout = `${cols}x${rows}`;

function auditReason(purpose) {
  if (wall.incident) {
    const call = `incident ${wall.incident.cad_number} (${wall.incident.type_code || "call"})`;
    return `Video wall: ${call}${purpose ? ` - ${purpose}` : ""}`;
  }
  return `Video wall: ${purpose}`;
}

function createTile(camera) {
  const state = el("span", { className: "wt-state", text: STATE_LABELS.waiting });
  const body = el("div", { className: "wt-body" });
  const message = el("div", { className: "wt-message" });
  const node = el("article", {
    className: "wall-tile",
    dataset: { cameraId: camera.id, kind: camera.stream_kind || "none", state: "waiting" },
    attrs: { "aria-label": camera.name },
  }, [
    el("header", { className: "wt-header" }, [
      el("span", { className: `wt-owner owner-${camera.owner_kind}`, attrs: { "aria-hidden": "true" } }),
      el("span", { className: "wt-name", text: camera.name, title: camera.name }),
      state,
    ]),
    body,
    message,
  ]);
  const setState = (value, detail = "") => {
    node.dataset.state = value;
    state.textContent = STATE_LABELS[value] || value;
    state.title = detail;
  };
  return { camera, node, body, message, setState };
}

async function openTile(tile, reason) {
  const { camera } = tile;
  if (camera.sharing !== "live") {
    tile.setState("refused");
    tile.message.textContent = "The owner shares recorded footage on request only.";
    return;
  }
  tile.setState("connecting");
  tile.message.textContent = "";
  try {
    const body = { reason, incident: wall.incident ? wall.incident.id : null, display: "wall" };
    const stream = await api.postJSON(`cameras/${camera.id}/stream/`, body);
    // The grant is short-lived: the player renews it (audited as a renewal) while the tile plays.
    const renew = () => api.postJSON(`cameras/${camera.id}/stream/`, { ...body, renewal: true });
    const player = createPlayer(stream, { label: camera.name, onState: tile.setState, renew });
    tile.body.append(player.box);
  } catch (error) {
    if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
      tile.setState("refused");
      tile.message.textContent = error.detail || error.message;
      return;
    }
    tile.setState("reconnecting", error.message);
    tile.message.textContent = "Could not open the stream; trying again.";
    window.setTimeout(() => openTile(tile, reason), REOPEN_MS);
  }
}

function start(purpose) {
  clear(grid);
  const reason = auditReason(purpose);
  for (const camera of wall.cameras) {
    const tile = createTile(camera);
    grid.append(tile.node);
    openTile(tile, reason);
  }
  for (let i = wall.cameras.length; i < cols * rows; i += 1) {
    grid.append(el("div", { className: "wall-tile wall-empty", text: "No camera" }));
  }
  grid.dataset.state = "running";
  const reloadAt = Date.now() + PAGE_RELOAD_MS;
  window.setInterval(() => {
    if (Date.now() >= reloadAt && !document.hidden) window.location.reload();
  }, 60 * 1000);
}

// Without an incident, the wall must say why it shows these cameras before any stream opens. The
// answer goes into the address, so the hourly reload (and a bookmark) does not ask again.
function askPurpose() {
  const input = el("input", {
    attrs: { type: "text", name: "reason", required: true, maxlength: 200, autocomplete: "off",
      placeholder: "e.g. Parade detail, Westlake; event 26-0412" },
  });
  const form = el("form", { className: "wall-purpose" }, [
    el("h2", { text: "Why is this wall showing these cameras?" }),
    el("p", {
      text: `${wall.cameras.length} camera(s). The purpose is recorded in the audit log with every stream the wall opens.`,
    }),
    input,
    el("button", { className: "btn btn-primary", text: "Start the wall", attrs: { type: "submit" } }),
  ]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const purpose = input.value.trim().replace(/\s+/g, " ");
    if (!purpose) return;
    const url = new URL(window.location.href);
    url.searchParams.set("reason", purpose);
    window.history.replaceState(null, "", url);
    start(purpose);
  });
  clear(grid).append(form);
  grid.dataset.state = "asking";
  input.focus();
}

if (wall.cameras.length === 0) {
  const text = wall.incident
    ? `No camera that may be watched live sees incident ${wall.incident.cad_number}.`
    : "No cameras chosen: open /wall/?cameras=<id>,<id> or /wall/?incident=<id>.";
  grid.append(el("div", { className: "wall-note", text }));
  grid.dataset.state = "empty";
} else if (wall.incident || wall.reason) {
  start(wall.reason);
} else {
  askPurpose();
}
