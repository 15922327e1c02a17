"""Turn a chat message into an action on tasks.

`parse()` is the deterministic parser (no network, no model): it understands

* add / create / new / remind me to ... with an optional due date: today, tonight, tomorrow,
  weekday names (monday, on fri, by next tuesday), ISO dates (2025-01-31), in N days / weeks;
* list / show [all | pending | done] [tasks];
* complete / done / finish / mark N [as done], "N is done"; delete / remove N.
  N is the task number (#id); words instead of a number pick the task by title.

Weekday names mean the next such day strictly after today ("friday" said on a Friday is a week
away); "this friday" said on a Friday is today; "next friday" is the same as "friday".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Action = Literal["add", "list", "complete", "delete", "help"]
ListFilter = Literal["all", "pending", "done"]


@dataclass(frozen=True)
class Intent:
    action: Action
    title: str | None = None
    due_date: date | None = None
    task_id: int | None = None
    filter: ListFilter = "all"
    reply: str | None = None  # for "help": what to tell the user


HELP = (
    'I can manage your tasks. Try: "add buy milk tomorrow", "add report due friday", '
    '"list", "show done", "complete 3", "delete 2".'
)

_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3,
    "friday": 4, "saturday": 5, "sunday": 6,
}
_WEEKDAY_ABBR = {
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "six": 6, "seven": 7, "ten": 10}

_PREP = r"(?:(?:due|by|on|for|until|before)\s*:?\s+)"
_FULL_DAYS = "|".join(_WEEKDAYS)
_ABBR_DAYS = "|".join(sorted(_WEEKDAY_ABBR, key=len, reverse=True))

# Each pattern is searched as a whole phrase; the last match in the text wins.
_DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(rf"(?<![\w-]){_PREP}?(?P<iso>\d{{4}}-\d{{1,2}}-\d{{1,2}})(?![\w-])", re.I)),
    ("rel", re.compile(rf"(?<!\w){_PREP}?(?P<rel>today|tonight|tomorrow|tmrw|tmr)(?!\w)", re.I)),
    ("in", re.compile(
        r"(?<!\w)(?:due\s+)?in\s+(?P<n>\d{1,3}|a|an|one|two|three|four|five|six|seven|ten)\s+"
        r"(?P<unit>days?|weeks?)(?!\w)", re.I)),
    ("day", re.compile(
        rf"(?<!\w){_PREP}?(?:(?P<mod>next|this|coming)\s+)?(?P<day>{_FULL_DAYS})(?!\w)", re.I)),
    ("abbr", re.compile(
        rf"(?<!\w)(?:{_PREP}(?:(?:next|this)\s+)?|(?P<mod2>next|this)\s+)(?P<abbr>{_ABBR_DAYS})\.?(?!\w)",
        re.I)),
]


class DateError(ValueError):
    pass


def _next_weekday(today: date, weekday: int, include_today: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def extract_due_date(text: str, today: date) -> tuple[str, date | None]:
    """Find a date phrase in `text`; return the text without it and the date (or None)."""
    best: tuple[int, str, re.Match[str]] | None = None
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if best is None or match.start() > best[0]:
                best = (match.start(), kind, match)
    if best is None:
        return text, None
    _, kind, m = best
    if kind == "iso":
        try:
            y, mo, d = (int(part) for part in m.group("iso").split("-"))
            due = date(y, mo, d)
        except ValueError:
            raise DateError(f"{m.group('iso')} is not a valid date (use YYYY-MM-DD)") from None
    elif kind == "rel":
        word = m.group("rel").lower()
        due = today if word in ("today", "tonight") else today + timedelta(days=1)
    elif kind == "in":
        raw = m.group("n").lower()
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        due = today + timedelta(days=n * (7 if m.group("unit").lower().startswith("week") else 1))
    elif kind == "day":
        mod = (m.group("mod") or "").lower()
        due = _next_weekday(today, _WEEKDAYS[m.group("day").lower()], include_today=mod == "this")
    else:
        mod = (m.group("mod2") or "").lower() or ("this" if re.search(r"\bthis\s", m.group(0), re.I) else "")
        due = _next_weekday(today, _WEEKDAY_ABBR[m.group("abbr").lower()], include_today=mod == "this")
    rest = re.sub(r"\s+", " ", text[: m.start()] + " " + text[m.end():]).strip()
    return rest, due


def _clean_title(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^(?:(?:a|an|the|new)\s+)*(?:(?:task|todo|item)\b\s*)?[:\-–]?\s*", "", text, flags=re.I)
    text = re.sub(r"^to\s+", "", text, flags=re.I)
    text = text.strip(" \t,;:.!-–")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”‘’`":
        text = text[1:-1].strip()
    text = text.strip("\"'“”‘’`").strip()
    return text


_ADD = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)?"
    r"(?:add|create|new|todo|remember(?:\s+to)?|remind\s+me\s+to|i\s+need\s+to|i\s+have\s+to)\b(?P<rest>.*)$",
    re.I | re.S,
)
_LIST = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)?"
    r"(?:list|show|display|view|what(?:'s|\s+is|\s+are)?|which)\b(?P<rest>.*)$",
    re.I | re.S,
)
_BARE_LIST = re.compile(r"^(?:my\s+)?(?:tasks|todos|to-dos|todo list|list)\s*[?.!]*$", re.I)
_COMPLETE = re.compile(
    r"^(?:please\s+)?(?:complete|finish|finished|done|check(?:\s+off)?|tick(?:\s+off)?|mark)\b(?P<rest>.*)$",
    re.I | re.S,
)
_DONE_SUFFIX = re.compile(
    r"^(?:task\s*)?#?(?P<id>\d+)\s+(?:is\s+)?(?:done|complete|completed|finished)[.!]*$", re.I
)
_DELETE = re.compile(
    r"^(?:please\s+)?(?:delete|remove|del|rm|drop|cancel|erase)\b(?P<rest>.*)$", re.I | re.S
)
_HELP = re.compile(r"^(?:help|\?|hi|hello|hey|what can you do)\b", re.I)


def _target(rest: str) -> tuple[int | None, str | None]:
    rest = re.sub(r"\s+", " ", rest).strip(" .!?")
    rest = re.sub(r"\s+(?:as\s+)?(?:done|complete|completed|finished)$", "", rest, flags=re.I)
    rest = re.sub(r"^(?:the\s+)?(?:task|todo|item)\b\s*", "", rest, flags=re.I)
    rest = re.sub(r"^(?:number|no\.?)\s*", "", rest, flags=re.I).strip()
    m = re.fullmatch(r"#?(\d+)", rest)
    if m:
        return int(m.group(1)), None
    title = _clean_title(rest)
    return None, title or None


def parse(message: str, today: date) -> Intent:
    text = message.strip()
    if not text:
        return Intent("help", reply=HELP)

    m = _DONE_SUFFIX.match(text)
    if m:
        return Intent("complete", task_id=int(m.group("id")))

    m = _ADD.match(text)
    if m:
        try:
            rest, due = extract_due_date(m.group("rest"), today)
        except DateError as exc:
            return Intent("help", reply=f"{exc}. {HELP}")
        title = _clean_title(rest)
        if not title:
            return Intent("help", reply='What should I add? For example: "add buy milk tomorrow".')
        return Intent("add", title=title[:200], due_date=due)

    m = _COMPLETE.match(text)
    if m:
        task_id, title = _target(m.group("rest"))
        if task_id is None and title is None:
            return Intent("help", reply='Which task is done? Say "complete 3" (the task number).')
        return Intent("complete", task_id=task_id, title=title)

    m = _DELETE.match(text)
    if m:
        task_id, title = _target(m.group("rest"))
        if task_id is None and title is None:
            return Intent("help", reply='Which task should I delete? Say "delete 3" (the task number).')
        return Intent("delete", task_id=task_id, title=title)

    if _HELP.match(text):
        return Intent("help", reply=HELP)
    if _BARE_LIST.match(text):
        return Intent("list")
    m = _LIST.match(text)
    if m:
        rest = m.group("rest").lower()
        if re.search(r"\b(?:pending|open|todo|to do|remaining|left|incomplete|outstanding|unfinished|not done)\b", rest):
            return Intent("list", filter="pending")
        if re.search(r"\b(?:done|completed?|finished|closed)\b", rest):
            return Intent("list", filter="done")
        return Intent("list")

    return Intent("help", reply=f"Sorry, I did not understand that. {HELP}")
