// @ts-check
/** Date helpers for the task list (pure, tested with `npm test`). */

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Local calendar date as YYYY-MM-DD. @param {Date} [now] */
export function todayIso(now = new Date()) {
  const y = now.getFullYear();
  const m = String(now.getMonth() + 1).padStart(2, "0");
  const d = String(now.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

/** @param {string} iso */
function parseIso(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

/** Whole days from `today` to `due` (both YYYY-MM-DD); null if either is not a date. */
export function daysUntil(/** @type {string} */ due, /** @type {string} */ today) {
  const a = parseIso(due);
  const b = parseIso(today);
  if (a === null || b === null) return null;
  return Math.round((a - b) / 86400000);
}

/**
 * Short label for a due date: "today", "tomorrow", "yesterday", "Fri 17 Jan", with the year
 * when it is not the current one.
 * @param {string | null | undefined} due
 * @param {string} today
 */
export function dueLabel(due, today) {
  if (!due) return "";
  const diff = daysUntil(due, today);
  if (diff === null) return due;
  if (diff === 0) return "today";
  if (diff === 1) return "tomorrow";
  if (diff === -1) return "yesterday";
  const ts = /** @type {number} */ (parseIso(due));
  const d = new Date(ts);
  const label = `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  return due.slice(0, 4) === today.slice(0, 4) ? label : `${label} ${due.slice(0, 4)}`;
}

/** @param {{ done: boolean, due_date: string | null }} task @param {string} today */
export function isOverdue(task, today) {
  if (task.done || !task.due_date) return false;
  const diff = daysUntil(task.due_date, today);
  return diff !== null && diff < 0;
}
