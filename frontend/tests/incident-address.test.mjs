// The incident panel's address line: a blurred (block-level) location is marked as approximate.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatAddress } from "../static/rtcc/js/format.js";

test("an approximate location says so, an exact one reads as the address", () => {
  assert.equal(formatAddress("11XX BATES ST", true), "11XX BATES ST (approximate location)");
  assert.equal(formatAddress("1100 BATES ST", false), "1100 BATES ST");
  assert.equal(formatAddress("", true), "— (approximate location)"); // placed on its beat, no address
  assert.equal(formatAddress(undefined, false), "");
});
