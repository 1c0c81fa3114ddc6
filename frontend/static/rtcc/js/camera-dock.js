// The camera dock: live camera tiles beside the map, several at once, each closable, minimisable
// (the player stops, so a folded tile costs no bandwidth) and maximisable. The dock sits along the
// bottom or the right edge; the choice is remembered in this browser.
//
// Opening a tile asks the server for the stream (POST /api/cameras/{pk}/stream/), which checks the
// role and sharing and writes the audit record; the tile never sees a URL any other way.
import { el } from "./dom.js";
import { oneLine } from "./format.js";
import { createPlayer } from "./camera-player.js";

const MAX_TILES = 6;
const SIDE_KEY = "rtcc.cameraDock.side";
const SIDES = ["bottom", "right"];
const STATE_LABELS = {
  connecting: "Connecting…",
  playing: "Live",
  reconnecting: "Reconnecting…",
  unsupported: "Not playable here",
  refused: "Not available",
};

export class DockFull extends Error {
  constructor(max) {
    super(`${max} camera tiles are open: close one first.`);
    this.name = "DockFull";
  }
}

function savedSide() {
  try {
    const side = window.localStorage.getItem(SIDE_KEY);
    return SIDES.includes(side) ? side : "bottom";
  } catch {
    return "bottom"; // storage disabled: the default, every time
  }
}

function iconButton(text, label, onClick) {
  return el("button", {
    className: "ct-button",
    text,
    attrs: { type: "button", "aria-label": label, title: label },
    on: { click: onClick },
  });
}

export function createCameraDock({ api, parent = document.querySelector(".workspace") || document.body, max = MAX_TILES }) {
  const tiles = new Map(); // camera id -> tile
  const pending = new Set();
  const count = el("span", { className: "cd-count" });
  const sideButton = el("button", { className: "btn btn-ghost btn-small", attrs: { type: "button" } });
  const list = el("div", { className: "cd-tiles" });
  const root = el("section", {
    className: "camera-dock",
    attrs: { id: "camera-dock", "aria-label": "Camera views" },
    dataset: { side: savedSide() },
  }, [
    el("header", { className: "cd-header" }, [
      el("span", { className: "cd-title", text: "Cameras" }),
      count,
      el("span", { className: "cd-spacer" }),
      sideButton,
      el("button", {
        className: "btn btn-ghost btn-small",
        text: "Close all",
        attrs: { type: "button" },
        on: { click: () => closeAll() },
      }),
    ]),
    list,
  ]);
  root.hidden = true;
  parent.append(root);

  function sync() {
    root.hidden = tiles.size === 0;
    count.textContent = `${tiles.size}/${max}`;
    sideButton.textContent = root.dataset.side === "bottom" ? "Dock right" : "Dock bottom";
    root.classList.toggle("has-maximised", [...tiles.values()].some((t) => t.maximised));
  }

  sideButton.addEventListener("click", () => {
    root.dataset.side = root.dataset.side === "bottom" ? "right" : "bottom";
    try {
      window.localStorage.setItem(SIDE_KEY, root.dataset.side);
    } catch {
      // not remembered; the dock still moves
    }
    sync();
  });

  // renew(): a new grant for the same camera and reason (audited as a renewal), when the old one ends.
  function createTile(camera, stream, why, renew) {
    const status = el("span", { className: "ct-state", text: STATE_LABELS.connecting });
    const body = el("div", { className: "ct-body" });
    const tile = {
      maximised: false,
      minimised: false,
      player: null,
      node: null,
    };
    const play = () => {
      tile.player = createPlayer(stream, {
        label: camera.name,
        renew,
        onState(state, detail) {
          tile.node.dataset.state = state;
          status.textContent = STATE_LABELS[state] || state;
          status.title = detail || "";
        },
      });
      body.append(tile.player.box);
    };
    const stopPlayer = () => {
      tile.player?.stop();
      tile.player?.box.remove();
      tile.player = null;
    };
    const minimiseButton = iconButton("–", "Minimise", () => tile.setMinimised(!tile.minimised));
    const maximiseButton = iconButton("□", "Maximise", () => tile.setMaximised(!tile.maximised));
    tile.node = el("article", {
      className: "camera-tile",
      dataset: { cameraId: camera.id, kind: stream.stream_kind || "none", state: "connecting" },
      attrs: { "aria-label": camera.name },
    }, [
      el("header", { className: "ct-header" }, [
        el("span", { className: "ct-name", text: camera.name, title: camera.name }),
        el("span", { className: "ct-kind", text: (stream.stream_kind || "?").toUpperCase() }),
        status,
        minimiseButton,
        maximiseButton,
        iconButton("×", "Close", () => tile.close()),
      ]),
      body,
      el("footer", { className: "ct-why", text: why, title: why }),
    ]);
    tile.setMinimised = (value) => {
      tile.minimised = value;
      tile.node.classList.toggle("minimised", value);
      minimiseButton.textContent = value ? "▴" : "–";
      minimiseButton.setAttribute("aria-label", value ? "Restore" : "Minimise");
      minimiseButton.title = value ? "Restore" : "Minimise";
      if (value) {
        tile.setMaximised(false);
        stopPlayer();
        tile.node.dataset.state = "minimised";
        status.textContent = "Paused";
      } else if (!tile.player) {
        play();
      }
    };
    tile.setMaximised = (value) => {
      if (value) {
        for (const other of tiles.values()) if (other !== tile && other.maximised) other.setMaximised(false);
        if (tile.minimised) tile.setMinimised(false);
      }
      tile.maximised = value;
      tile.node.classList.toggle("maximised", value);
      maximiseButton.textContent = value ? "❐" : "□";
      maximiseButton.setAttribute("aria-label", value ? "Restore size" : "Maximise");
      maximiseButton.title = value ? "Restore size" : "Maximise";
      sync();
    };
    tile.close = () => {
      stopPlayer();
      tile.node.remove();
      tiles.delete(camera.id);
      sync();
    };
    tile.node.addEventListener("animationend", () => tile.node.classList.remove("ct-flash"));
    tile.reveal = () => {
      if (tile.minimised) tile.setMinimised(false);
      tile.node.scrollIntoView({ block: "nearest", inline: "nearest" });
      tile.node.classList.remove("ct-flash");
      void tile.node.offsetWidth; // restart the animation
      tile.node.classList.add("ct-flash");
    };
    play();
    return tile;
  }

  function closeAll() {
    for (const tile of [...tiles.values()]) tile.close();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const big = [...tiles.values()].find((t) => t.maximised);
    if (big) {
      big.setMaximised(false);
      event.stopImmediatePropagation(); // Escape shrinks the tile first, before closing the panel
    }
  }, true);

  sync();
  return {
    root,

    isOpen(cameraId) {
      return tiles.has(Number(cameraId));
    },

    // camera: {id, name, ...}; why: the audit reason; incident: the incident being worked, if any.
    // An already open camera is brought forward without asking (or auditing) again.
    async open(camera, { reason: why, incident = null }) {
      const reason = oneLine(why);
      const id = Number(camera.id);
      const existing = tiles.get(id);
      if (existing) {
        existing.reveal();
        return existing;
      }
      if (pending.has(id)) return null;
      if (tiles.size + pending.size >= max) throw new DockFull(max);
      pending.add(id);
      try {
        const stream = await api.postJSON(`cameras/${id}/stream/`, { reason, incident, display: "dock" });
        const renew = () => api.postJSON(`cameras/${id}/stream/`, { reason, incident, display: "dock", renewal: true });
        const tile = createTile({ ...camera, id }, stream, reason, renew);
        tiles.set(id, tile);
        list.append(tile.node);
        sync();
        tile.reveal();
        return tile;
      } finally {
        pending.delete(id);
      }
    },

    close(cameraId) {
      tiles.get(Number(cameraId))?.close();
    },

    closeAll,
  };
}
