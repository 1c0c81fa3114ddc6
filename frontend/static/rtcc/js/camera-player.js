// One camera's live picture, whichever way the camera offers it: HLS (hls.js over Media Source
// Extensions, or the browser's own HLS), MJPEG (an <img> on the multipart stream) or a snapshot
// reloaded every few seconds. A picture that drops is re-connected with back-off, on the URL the
// server already handed out (and audited), so a flaky camera does not flood the audit trail.
//
// That URL is our own stream proxy carrying a short-lived grant (never the camera's address). Before
// the grant expires the player asks `renew()` for a new one (another audited open) and switches:
// hls.js and snapshots carry on under the new grant without a gap (every request hls.js makes is
// re-addressed to the current grant); MJPEG and the browser's own HLS player reconnect.
import { el } from "./dom.js";

const SNAPSHOT_REFRESH_MS = 2000;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;
// A playing video whose clock has not moved for this long is treated as dropped.
const STALL_MS = 20000;
const WATCHDOG_MS = 5000;
// Renew this long before the grant ends (at half its life for grants shorter than twice this).
const RENEW_AHEAD_MS = 30000;

let hlsModule = null;

// hls.js is large: loaded on the first HLS tile only. The ES module build has no inline worker, and
// `enableWorker: false` below says so explicitly, so the policy keeps `worker-src 'self'`.
function loadHls() {
  hlsModule ??= import("../../vendor/hls/hls.mjs").then((module) => module.default);
  return hlsModule;
}

const GRANT_PATH = /\/api\/streams\/[^/]+\//;

export function withCacheBuster(url) {
  const target = new URL(url, window.location.origin);
  target.searchParams.set("_", String(Date.now()));
  return target.toString();
}

function note(text) {
  return el("div", { className: "stream-note", text });
}

// `stream` is what POST /api/cameras/{pk}/stream/ answered: {url, stream_kind, status, expires_at}.
// `renew()` opens the camera again (audited as a renewal) and resolves to the same shape; without it
// the picture stops when the grant expires. onState(state, detail) hears "connecting", "playing",
// "reconnecting", "unsupported" and "refused" (the server no longer lets this user watch).
export function createPlayer(stream, { onState = () => {}, label = "Camera", renew = null } = {}) {
  const kind = stream.stream_kind || "";
  const box = el("div", { className: "stream-viewer", dataset: { kind: kind || "none" } });
  let current = stream;
  let stopped = false;
  let retryTimer = null;
  let renewTimer = null;
  let attempts = 0;
  let cleanup = null;

  function expiresIn() {
    const at = Date.parse(current.expires_at || "");
    return Number.isNaN(at) ? Infinity : at - Date.now();
  }

  function scheduleRenewal() {
    window.clearTimeout(renewTimer);
    renewTimer = null;
    const left = expiresIn();
    if (!renew || !Number.isFinite(left)) return;
    // A short grant (RTCC_STREAM_GRANT_SECONDS under a minute) is renewed at half its life; never
    // sooner than a second, so a misconfigured one cannot flood the audit trail.
    const wait = Math.max(1000, left > 2 * RENEW_AHEAD_MS ? left - RENEW_AHEAD_MS : left / 2);
    renewTimer = window.setTimeout(() => refreshGrant(true), wait);
  }

  // Ask for a new grant; on success restart on its URL (when `restart`), on refusal stop for good.
  async function refreshGrant(restart) {
    if (stopped) return false;
    try {
      current = await renew();
    } catch (error) {
      if (stopped) return false;
      if (error && error.status >= 400 && error.status < 500) {
        if (cleanup) cleanup();
        cleanup = null;
        stopped = true;
        setState("refused", error.detail || error.message || "refused");
        return false;
      }
      dropped("could not renew the stream grant");
      return false;
    }
    scheduleRenewal();
    const seamless = kind === "snapshot" || (kind === "hls" && box.dataset.player === "hls.js");
    if (restart && (!seamless || !cleanup) && !stopped && !retryTimer) {
      if (cleanup) cleanup();
      cleanup = null;
      start();
    }
    return true;
  }

  function setState(state, detail = "") {
    box.dataset.state = state;
    onState(state, detail);
  }

  function playing() {
    attempts = 0;
    if (box.dataset.state !== "playing") setState("playing");
  }

  function dropped(why) {
    if (stopped || retryTimer) return;
    if (cleanup) cleanup();
    cleanup = null;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempts);
    attempts += 1;
    setState("reconnecting", why);
    retryTimer = window.setTimeout(async () => {
      retryTimer = null;
      // An expired grant is why it dropped (or soon would): renew before reconnecting.
      if (renew && expiresIn() < RENEW_AHEAD_MS && !(await refreshGrant(false))) return;
      start();
    }, delay);
  }

  function startSnapshot() {
    const img = el("img", { attrs: { alt: `${label} snapshot` } });
    img.addEventListener("load", playing);
    img.addEventListener("error", () => setState("reconnecting", "snapshot failed to load"));
    const refresh = () => { img.src = withCacheBuster(current.url); };
    refresh();
    // A failed snapshot is simply tried again at the next refresh.
    const timer = window.setInterval(refresh, SNAPSHOT_REFRESH_MS);
    box.append(img);
    return () => {
      window.clearInterval(timer);
      img.removeAttribute("src");
      img.remove();
    };
  }

  function startMjpeg() {
    const img = el("img", { attrs: { alt: `${label} stream` } });
    img.addEventListener("load", playing);
    img.addEventListener("error", () => dropped("the MJPEG stream failed"));
    // Fresh URL on every (re)connect: a cached copy would be one frozen frame.
    img.src = withCacheBuster(current.url);
    box.append(img);
    return () => {
      img.removeAttribute("src");
      img.remove();
    };
  }

  function startHls() {
    const video = el("video", { attrs: { autoplay: true, muted: true, playsinline: true, controls: true } });
    video.muted = true; // the attribute alone does not mute a video built by script
    box.append(video);
    let hls = null;
    let lastTime = -1;
    let lastMove = Date.now();
    const play = () => video.play().catch(() => {}); // refused autoplay or a superseded load: harmless
    const onPlaying = () => playing();
    const onEnded = () => dropped("the stream ended");
    const onError = () => dropped("the video element reported an error");
    video.addEventListener("playing", onPlaying);
    video.addEventListener("ended", onEnded);
    video.addEventListener("error", onError);
    const watchdog = window.setInterval(() => {
      if (video.paused) {
        lastMove = Date.now();
        return;
      }
      if (video.currentTime !== lastTime) {
        lastTime = video.currentTime;
        lastMove = Date.now();
      } else if (Date.now() - lastMove > STALL_MS) {
        dropped("the picture froze");
      }
    }, WATCHDOG_MS);
    let cancelled = false;
    loadHls().then((Hls) => {
      if (cancelled) return;
      if (Hls.isSupported()) {
        box.dataset.player = "hls.js";
        hls = new Hls({
          enableWorker: false,
          lowLatencyMode: false,
          backBufferLength: 30,
          // The playlist and its parts were handed out under the grant of the time; ask under the
          // current one (the server accepts a part under any live grant of the same user and camera).
          xhrSetup(xhr, url) {
            const grant = current.url.match(GRANT_PATH);
            const fresh = grant ? url.replace(GRANT_PATH, grant[0]) : url;
            if (fresh !== url) xhr.open("GET", fresh, true);
          },
        });
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (data.fatal) dropped(`HLS: ${data.details}`);
        });
        hls.on(Hls.Events.MANIFEST_PARSED, play);
        hls.loadSource(current.url);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        box.dataset.player = "native";
        video.src = current.url;
        play();
      } else {
        video.remove();
        box.append(note("This browser cannot play HLS video."));
        setState("unsupported");
      }
    }).catch(() => {
      if (!cancelled) dropped("the HLS player did not load");
    });
    return () => {
      cancelled = true;
      window.clearInterval(watchdog);
      video.removeEventListener("playing", onPlaying);
      video.removeEventListener("ended", onEnded);
      video.removeEventListener("error", onError);
      if (hls) hls.destroy();
      video.removeAttribute("src");
      video.load();
      video.remove();
    };
  }

  function start() {
    if (stopped) return;
    setState(attempts ? "reconnecting" : "connecting");
    if (kind === "snapshot") cleanup = startSnapshot();
    else if (kind === "mjpeg") cleanup = startMjpeg();
    else if (kind === "hls") cleanup = startHls();
    else {
      const text = kind === "rtsp"
        ? "RTSP streams play through the agency's video gateway, not in the browser."
        : `Unknown stream type: ${kind || "none"}.`;
      box.append(note(text));
      setState("unsupported");
    }
  }

  // A tile restored after a while may hold an expired grant: renew first, without a failed request.
  if (renew && expiresIn() <= 1000) {
    setState("connecting");
    refreshGrant(true);
  } else {
    start();
    scheduleRenewal();
  }
  return {
    box,
    stop() {
      stopped = true;
      if (retryTimer) window.clearTimeout(retryTimer);
      window.clearTimeout(renewTimer);
      retryTimer = null;
      if (cleanup) cleanup();
      cleanup = null;
    },
  };
}
