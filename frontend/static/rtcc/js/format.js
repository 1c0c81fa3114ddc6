// Times shown in the agency's time zone, 24-hour (the way dispatch reads them); distances in m/km.

let timeZone;

export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    timeZone = zone;
  } catch {
    timeZone = undefined;
  }
}

function formatter(options) {
  return new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", ...options });
}

function parseTime(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function formatTime(iso) {
  const date = parseTime(iso);
  if (!date) return "";
  return formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
}

export function formatDateTime(iso) {
  const date = parseTime(iso);
  if (!date) return "";
  return formatter({
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).format(date);
}

export function formatClock(date) {
  const time = formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" }).format(date);
  const day = formatter({ weekday: "short", month: "short", day: "numeric" }).format(date);
  return `${day}  ${time}`;
}

export function ageSeconds(iso, now = Date.now()) {
  const date = parseTime(iso);
  return date ? Math.max(0, Math.round((now - date.getTime()) / 1000)) : null;
}

export function formatAge(iso) {
  const seconds = ageSeconds(iso);
  if (seconds === null) return "";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

export function formatDistance(metres) {
  if (metres === null || metres === undefined || Number.isNaN(Number(metres))) return "";
  const m = Number(metres);
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`;
}

export function titleCase(code) {
  if (!code) return "";
  const text = String(code).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A gunshot's rounds: null means the sensor heard shots but did not count them (never "1").
export function roundsText(rounds) {
  if (rounds === null || rounds === undefined) return "unknown rounds";
  return `${rounds} round${rounds === 1 ? "" : "s"}`;
}

// An ALPR site's views ([from, to] sectors; [h, h] a heading): "45° · 225°", "252–297°"; none: all round.
export function viewText(views) {
  if (!Array.isArray(views) || views.length === 0) return "all round";
  return views
    .map(([from, to]) => (from === to ? `${Math.round(from)}°` : `${Math.round(from)}–${Math.round(to)}°`))
    .join(" · ");
}

// An incident's address as the panel shows it: a block-level (blurred) location says so.
export function formatAddress(address, approximate) {
  if (!approximate) return address || "";
  return `${address || "—"} (approximate location)`;
}

// An audit reason built from records (an alert's title) on one line: the server's one reason rule
// (apps/audit/reads.py) refuses line breaks and tabs inside a reason, so runs of white space become one space.
export function oneLine(text) {
  return String(text ?? "").replace(/\s+/g, " ").trim();
}
