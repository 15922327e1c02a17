import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { daysUntil, dueLabel, isOverdue, todayIso } from "../lib/format.mjs";

describe("format", () => {
  it("todayIso uses the local calendar date", () => {
    assert.equal(todayIso(new Date(2025, 0, 5, 23, 59)), "2025-01-05");
  });
  it("daysUntil counts calendar days", () => {
    assert.equal(daysUntil("2025-01-16", "2025-01-15"), 1);
    assert.equal(daysUntil("2025-03-01", "2025-02-28"), 1);
    assert.equal(daysUntil("2024-12-31", "2025-01-01"), -1);
    assert.equal(daysUntil("soon", "2025-01-01"), null);
  });
  it("dueLabel", () => {
    const today = "2025-01-15";
    assert.equal(dueLabel(null, today), "");
    assert.equal(dueLabel("2025-01-15", today), "today");
    assert.equal(dueLabel("2025-01-16", today), "tomorrow");
    assert.equal(dueLabel("2025-01-14", today), "yesterday");
    assert.equal(dueLabel("2025-01-17", today), "Fri 17 Jan");
    assert.equal(dueLabel("2026-02-01", today), "Sun 1 Feb 2026");
  });
  it("isOverdue ignores done tasks and tasks without a date", () => {
    const today = "2025-01-15";
    assert.equal(isOverdue({ done: false, due_date: "2025-01-14" }, today), true);
    assert.equal(isOverdue({ done: true, due_date: "2025-01-14" }, today), false);
    assert.equal(isOverdue({ done: false, due_date: null }, today), false);
    assert.equal(isOverdue({ done: false, due_date: "2025-01-15" }, today), false);
  });
});
