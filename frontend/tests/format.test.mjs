// format.js: how times, ages and distances read on the map (the agency's zone, 24-hour).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ageSeconds, formatDistance, formatTime, oneLine, roundsText, setTimeZone, titleCase, viewText,
} from "../static/rtcc/js/format.js";

test("times read in the agency's time zone, 24-hour", () => {
  setTimeZone("America/Los_Angeles");
  assert.equal(formatTime("2026-07-01T23:05:09Z"), "16:05:09");
  setTimeZone("Not/AZone"); // an unknown zone falls back to the browser's, never throws
  assert.equal(typeof formatTime("2026-07-01T23:05:09Z"), "string");
  assert.equal(formatTime("garbage"), "");
});

test("ages never go negative and distances switch to km at 1000 m", () => {
  const now = Date.parse("2026-07-01T12:00:00Z");
  assert.equal(ageSeconds("2026-07-01T11:59:00Z", now), 60);
  assert.equal(ageSeconds("2026-07-01T12:00:30Z", now), 0); // a clock slightly ahead
  assert.equal(ageSeconds(null, now), null);
  assert.equal(formatDistance(999.4), "999 m");
  assert.equal(formatDistance(1234), "1.23 km");
  assert.equal(formatDistance(12345), "12.3 km");
  assert.equal(formatDistance(undefined), "");
});

test("codes become labels", () => {
  assert.equal(titleCase("false_positive"), "False positive");
  assert.equal(titleCase(""), "");
});

test("uncounted gunshots read as unknown rounds, not 1", () => {
  assert.equal(roundsText(null), "unknown rounds");
  assert.equal(roundsText(1), "1 round");
  assert.equal(roundsText(4), "4 rounds");
});

test("an ALPR site's views read as headings and sectors, none as all round", () => {
  assert.equal(viewText([]), "all round");
  assert.equal(viewText([[45, 45], [225, 225]]), "45° · 225°");
  assert.equal(viewText([[304, 14]]), "304–14°");
  assert.equal(viewText(undefined), "all round");
});

test("a reason built from a record is one line, as the server's reason rule wants", () => {
  assert.equal(oneLine("Alert 7: Flood\nwarning\t for  Elm St "), "Alert 7: Flood warning for Elm St");
  assert.equal(oneLine(undefined), "");
  assert.equal(oneLine("case 26-0131"), "case 26-0131");
});
