// The map's live connection: one WebSocket to the server's live feed (apps/live/messages.py is the
// protocol). It subscribes to the live layers for the current viewport, keeps the last `seq` it
// applied, reconnects with exponential backoff and jitter sending that `last_seq` so missed
// updates are replayed, and on `resync` (or when it has nothing to resume from) reloads the layers
// over REST, applying what arrived meanwhile afterwards, in seq order.
//
// Every REST reload of a live layer goes through `reload()`: live messages that arrive while one
// runs are held back and applied once it has finished, so a REST answer read before a change can
// never overwrite that change on the map.

const EVENT_TYPES = new Set(["feature.upserted", "feature.removed", "alert.raised", "alert.acknowledged", "alert.closed"]);
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30 * 1000;
// "Reconnecting…" for the first few attempts; after that the map says it is offline (and keeps trying).
const OFFLINE_AFTER_FAILURES = 3;
const RESUBSCRIBE_DEBOUNCE_MS = 400;
// Close codes the consumer uses (apps/live/consumer.py).
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_FORBIDDEN = 4403;

export function createLive({ url, layers, bbox, reloadLayers, apply, onState, onSignedOut }) {
  let socket = null;
  let subscribed = false; // this socket has a subscription (`subscribed` came back)
  let lastSeq = null; // the newest seq the map reflects; null until the first load over REST
  let failures = 0; // connection attempts in a row that ended without a subscription
  let retryTimer = null;
  let resubscribeTimer = null;
  let stopped = false;
  let state = "connecting";
  let reloading = 0; // REST reloads in flight
  let held = []; // live messages that arrived during a reload
  let reloadHead = null; // the head seq the current baseline reload covers (`subscribed`/`resync`)
  let retriedWithoutBbox = false;

  function setState(next, detail = "") {
    state = next;
    onState(next, detail);
  }

  function socketUrl() {
    const target = new URL(url, window.location.href);
    target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
    return target.toString();
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function subscribe({ withBbox = true } = {}) {
    const request = { action: "subscribe", layers };
    const box = withBbox ? bbox() : null;
    if (box) request.bbox = box;
    if (lastSeq !== null) request.last_seq = lastSeq;
    send(request);
  }

  function connect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    if (stopped) return;
    if (navigator.onLine === false) {
      // The browser knows there is no network: wait for its "online" event instead of failing.
      setState("offline", "No network");
      return;
    }
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (error) {
      console.warn("rtcc live: cannot open the socket", error);
      failed();
      return;
    }
    socket = ws;
    subscribed = false;
    ws.addEventListener("open", () => {
      if (socket === ws) subscribe();
    });
    ws.addEventListener("message", (event) => {
      if (socket === ws) receive(event.data);
    });
    // "error" is always followed by "close"; the close decides what happens next.
    ws.addEventListener("close", (event) => {
      if (socket === ws) closed(event);
    });
  }

  function closed(event) {
    socket = null;
    subscribed = false;
    window.clearTimeout(resubscribeTimer);
    if (stopped) return;
    if (event.code === CLOSE_UNAUTHENTICATED) {
      setState("offline", "Signed out");
      onSignedOut();
      return;
    }
    if (event.code === CLOSE_FORBIDDEN) {
      // The server will not stream to this user now (access changed): fall back to polling,
      // and try again slowly in case it was a passing state.
      failures = Math.max(failures, OFFLINE_AFTER_FAILURES) + 1;
      setState("offline", "Live updates refused");
      retry();
      return;
    }
    failed();
  }

  function failed() {
    failures += 1;
    setState(failures > OFFLINE_AFTER_FAILURES ? "offline" : "reconnecting");
    retry();
  }

  function retry() {
    window.clearTimeout(retryTimer);
    // Exponential backoff with jitter (half fixed, half random), so a restarted server is not hit by
    // every map at the same instant.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    retryTimer = window.setTimeout(connect, delay);
  }

  function receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("rtcc live: ignored a message that is not JSON");
      return;
    }
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "subscribed":
        subscribed = true;
        failures = 0;
        setState("live");
        // Nothing to resume from: what REST says now is the baseline, and the feed continues
        // after `seq`. Otherwise the server replays what we missed, or says `resync`.
        if (lastSeq === null) baseline(message.seq);
        break;
      case "resync":
        // What is held predates the resync (and may even be numbered by a stream that is gone).
        baseline(message.seq);
        break;
      case "error":
        console.warn(`rtcc live: the server refused a request: ${message.detail}`);
        // A refused first subscription would leave the map without updates: ask again for
        // everything (the viewport filter only saves bandwidth).
        if (!subscribed && !retriedWithoutBbox) {
          retriedWithoutBbox = true;
          subscribe({ withBbox: false });
        }
        break;
      default:
        if (EVENT_TYPES.has(message.type) && Number.isInteger(message.seq)) {
          if (reloading > 0) held.push(message);
          else deliver(message);
        }
    }
  }

  function deliver(message) {
    if (lastSeq !== null && message.seq <= lastSeq) return; // already on the map (replay overlap)
    lastSeq = message.seq;
    apply(message);
  }

  // Reload every live layer over REST; the map then reflects the feed up to `head`.
  function baseline(head) {
    held = [];
    reloadHead = Number.isInteger(head) ? head : 0;
    // The reload starts after the server gave `head`: it sees every change numbered up to there.
    // A reconnect from here on resumes after `head`; what is held is applied when REST is done.
    lastSeq = reloadHead;
    reload(reloadLayers);
  }

  async function reload(run) {
    reloading += 1;
    try {
      await run();
    } finally {
      reloading -= 1;
      if (reloading === 0) flush();
    }
  }

  function flush() {
    const pending = held.sort((a, b) => a.seq - b.seq);
    held = [];
    for (const message of pending) {
      if (reloadHead !== null && message.seq <= reloadHead) continue;
      deliver(message);
    }
    reloadHead = null;
  }

  function goOffline() {
    setState("offline", "No network");
    if (socket) {
      const ws = socket;
      socket = null;
      subscribed = false;
      ws.close();
    }
    window.clearTimeout(retryTimer);
  }

  function goOnline() {
    if (stopped || socket) return;
    failures = 0;
    connect();
  }

  return {
    start() {
      window.addEventListener("offline", goOffline);
      window.addEventListener("online", goOnline);
      setState("connecting");
      connect();
    },

    stop() {
      stopped = true;
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("online", goOnline);
      window.clearTimeout(retryTimer);
      window.clearTimeout(resubscribeTimer);
      if (socket) socket.close();
      socket = null;
    },

    // The viewport moved: ask for the new area (resuming after the last seq, so nothing that
    // happened in the meantime is lost). Debounced: a drag sends one request.
    viewChanged() {
      window.clearTimeout(resubscribeTimer);
      resubscribeTimer = window.setTimeout(() => {
        if (subscribed) subscribe();
      }, RESUBSCRIBE_DEBOUNCE_MS);
    },

    // Run a REST reload of live layers with live messages held back until it is done.
    reload,

    get connected() {
      return state === "live";
    },

    get state() {
      return state;
    },

    get lastSeq() {
      return lastSeq;
    },
  };
}
