// Playback's time and state rules, without the map: where a unit was at t, an incident's status at
// t, and the agency-time-zone picker values. Kept free of Leaflet and the DOM so node can test it
// (frontend/tests/playback-time.test.mjs). Same rules as apps/playback/selectors.py.

// Between two fixes further apart than this the unit is not interpolated: it jumps (a gap in AVL).
const INTERPOLATE_MAX_MS = 5 * 60 * 1000;

export const ms = (iso) => (iso ? new Date(iso).getTime() : null);

// The time picker speaks the agency's time zone (as every time on the page does), not the browser's.
function zoneOffsetMs(date, zone) {
  try {
    const fields = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(date);
    const p = Object.fromEntries(fields.map((part) => [part.type, Number(part.value)]));
    const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return wall - Math.floor(date.getTime() / 1000) * 1000;
  } catch {
    return -date.getTimezoneOffset() * 60000;
  }
}

export function toInputValue(date, zone) {
  return new Date(date.getTime() + zoneOffsetMs(date, zone)).toISOString().slice(0, 16);
}

// A datetime-local value ("2026-03-08T01:30") in the agency's zone, as a Date; null if it is not one
// (checked first: V8's Date.parse reads odd text such as "not a time:00Z" as a date in 2000).
export function fromInputValue(value, zone) {
  const text = String(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)) return null;
  const wall = Date.parse(text.length === 16 ? `${text}:00Z` : `${text}Z`);
  if (Number.isNaN(wall)) return null;
  // Two passes settle the offset on either side of a daylight-saving change.
  let guess = wall - zoneOffsetMs(new Date(wall), zone);
  guess = wall - zoneOffsetMs(new Date(guess), zone);
  return new Date(guess);
}

// Where a unit was at t: interpolated between the fixes around t (close enough), else the last fix.
export function unitPositionAt(fixes, t) {
  let before = null;
  let after = null;
  for (const fix of fixes) {
    if (fix.ms <= t) before = fix;
    else {
      after = fix;
      break;
    }
  }
  if (!before) return null;
  if (!after || after.ms - before.ms > INTERPOLATE_MAX_MS) return [before.lat, before.lon];
  const k = (t - before.ms) / (after.ms - before.ms);
  return [before.lat + (after.lat - before.lat) * k, before.lon + (after.lon - before.lon) * k];
}

export function incidentStatusAt(incident, t) {
  let status = null;
  for (const change of incident.changes) {
    if (ms(change.at) > t) break;
    status = change.status;
  }
  return status;
}
