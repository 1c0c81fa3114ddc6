// Unit tests for the map's pure modules, run by `node --test frontend/tests/` (tests/test_frontend_units.py
// runs them as part of `make test`). Playback's replay rules must agree with the server's
// apps/playback/selectors.py: a unit is where its last fix at or before t put it (interpolated only
// between fixes at most 5 minutes apart), an incident has the last status it took at or before t.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  fromInputValue, incidentStatusAt, toInputValue, unitPositionAt,
} from "../static/rtcc/js/playback-time.js";

const T0 = Date.parse("2026-03-08T09:00:00Z");
const fix = (minutes, lat, lon) => ({ ms: T0 + minutes * 60000, lat, lon });

test("a unit has no position before its first fix", () => {
  assert.equal(unitPositionAt([fix(0, 47.6, -122.3)], T0 - 1), null);
});

test("between close fixes the unit is interpolated; at a fix it is exactly there", () => {
  const fixes = [fix(0, 47.6, -122.3), fix(2, 47.62, -122.32)];
  assert.deepEqual(unitPositionAt(fixes, T0), [47.6, -122.3]);
  const [lat, lon] = unitPositionAt(fixes, T0 + 60000);
  assert.ok(Math.abs(lat - 47.61) < 1e-9 && Math.abs(lon + 122.31) < 1e-9);
  assert.deepEqual(unitPositionAt(fixes, T0 + 120000), [47.62, -122.32]);
});

test("across a gap longer than 5 minutes the unit stays at its last fix (a jump, not a glide)", () => {
  const fixes = [fix(0, 47.6, -122.3), fix(10, 47.7, -122.4)];
  assert.deepEqual(unitPositionAt(fixes, T0 + 5 * 60000), [47.6, -122.3]);
  assert.deepEqual(unitPositionAt(fixes, T0 + 11 * 60000), [47.7, -122.4]);
});

test("an incident's status at t is the last change at or before t", () => {
  const incident = {
    changes: [
      { at: "2026-03-08T09:00:00Z", status: "pending" },
      { at: "2026-03-08T09:04:00Z", status: "dispatched" },
      { at: "2026-03-08T09:20:00Z", status: "closed" },
    ],
  };
  assert.equal(incidentStatusAt(incident, T0 - 1), null);
  assert.equal(incidentStatusAt(incident, T0), "pending");
  assert.equal(incidentStatusAt(incident, T0 + 4 * 60000), "dispatched");
  assert.equal(incidentStatusAt(incident, T0 + 19 * 60000), "dispatched");
  assert.equal(incidentStatusAt(incident, T0 + 60 * 60000), "closed");
});

test("the time picker speaks the agency's zone, on both sides of a daylight-saving change", () => {
  const zone = "America/Los_Angeles";
  // 2026-03-08: clocks go from 02:00 PST to 03:00 PDT.
  assert.equal(fromInputValue("2026-03-08T01:30", zone).toISOString(), "2026-03-08T09:30:00.000Z");
  assert.equal(fromInputValue("2026-03-08T04:30", zone).toISOString(), "2026-03-08T11:30:00.000Z");
  assert.equal(toInputValue(new Date("2026-03-08T11:30:00Z"), zone), "2026-03-08T04:30");
  assert.equal(toInputValue(new Date("2026-07-01T19:05:00Z"), zone), "2026-07-01T12:05");
  assert.equal(fromInputValue("2026-03-08T04:30:15", zone).toISOString(), "2026-03-08T11:30:15.000Z");
  assert.equal(fromInputValue("not a time", zone), null);
  assert.equal(fromInputValue("", zone), null);
});
