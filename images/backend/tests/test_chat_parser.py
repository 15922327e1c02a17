from datetime import date

import pytest

from app.chat import extract_due_date, parse

from .conftest import FIXED_TODAY  # Wednesday 2025-01-15

D = date


@pytest.mark.parametrize(
    ("message", "title", "due"),
    [
        ("add buy milk tomorrow", "buy milk", D(2025, 1, 16)),
        ("add buy milk", "buy milk", None),
        ("Add Buy Milk today", "Buy Milk", D(2025, 1, 15)),
        ("todo clean the garage tonight", "clean the garage", D(2025, 1, 15)),
        ("add pay bills tmrw", "pay bills", D(2025, 1, 16)),
        ("create task call mom on friday", "call mom", D(2025, 1, 17)),
        ("create a task to call mom on Friday", "call mom", D(2025, 1, 17)),
        ("remind me to call bob on monday", "call bob", D(2025, 1, 20)),
        ("add standup wednesday", "standup", D(2025, 1, 22)),  # today is Wednesday: next week
        ("add standup this wednesday", "standup", D(2025, 1, 15)),
        ("add review next tuesday", "review", D(2025, 1, 21)),
        ("add review next tue", "review", D(2025, 1, 21)),
        ("add gym on sat", "gym", D(2025, 1, 18)),
        ("add gym by Sun.", "gym", D(2025, 1, 19)),
        ("add pay rent due 2025-02-01", "pay rent", D(2025, 2, 1)),
        ("add pay rent on 2025-2-1", "pay rent", D(2025, 2, 1)),
        ("add 2025-03-10 dentist", "dentist", D(2025, 3, 10)),
        ("add water plants in 3 days", "water plants", D(2025, 1, 18)),
        ("add taxes in a week", "taxes", D(2025, 1, 22)),
        ("add renew passport in 2 weeks", "renew passport", D(2025, 1, 29)),
        ("new task: write report by tomorrow", "write report", D(2025, 1, 16)),
        ("add 'read Dune' sunday", "read Dune", D(2025, 1, 19)),
        ('please add "call the bank" tomorrow', "call the bank", D(2025, 1, 16)),
        ("add sunglasses", "sunglasses", None),
        ("add wed planning", "wed planning", None),  # bare abbreviations are not dates
    ],
)
def test_add_with_dates(message, title, due):
    intent = parse(message, FIXED_TODAY)
    assert (intent.action, intent.title, intent.due_date) == ("add", title, due)


@pytest.mark.parametrize(
    ("message", "flt"),
    [
        ("list", "all"),
        ("List", "all"),
        ("tasks", "all"),
        ("my tasks?", "all"),
        ("show my tasks", "all"),
        ("show all tasks", "all"),
        ("what's on my list", "all"),
        ("what's pending", "pending"),
        ("show open tasks", "pending"),
        ("list tasks not done", "pending"),
        ("show done tasks", "done"),
        ("list completed", "done"),
    ],
)
def test_list(message, flt):
    intent = parse(message, FIXED_TODAY)
    assert (intent.action, intent.filter) == ("list", flt)


@pytest.mark.parametrize(
    ("message", "action", "task_id", "title"),
    [
        ("complete 3", "complete", 3, None),
        ("done 2", "complete", 2, None),
        ("Done #2", "complete", 2, None),
        ("mark #4 as done", "complete", 4, None),
        ("mark 4 done", "complete", 4, None),
        ("finish task 5", "complete", 5, None),
        ("check off 6", "complete", 6, None),
        ("3 is done", "complete", 3, None),
        ("task 7 done", "complete", 7, None),
        ("complete buy milk", "complete", None, "buy milk"),
        ("delete 2", "delete", 2, None),
        ("remove task #3", "delete", 3, None),
        ("Delete number 8", "delete", 8, None),
        ("delete buy milk", "delete", None, "buy milk"),
        ("remove the task 'call mom'", "delete", None, "call mom"),
    ],
)
def test_complete_and_delete(message, action, task_id, title):
    intent = parse(message, FIXED_TODAY)
    assert (intent.action, intent.task_id, intent.title) == (action, task_id, title)


@pytest.mark.parametrize(
    ("message", "reply_part"),
    [
        ("hello", "I can manage your tasks"),
        ("help", "I can manage your tasks"),
        ("what can you do", "I can manage your tasks"),
        ("the weather is nice", "did not understand"),
        ("add", "What should I add?"),
        ("add tomorrow", "What should I add?"),
        ("add task", "What should I add?"),
        ("complete", "Which task is done?"),
        ("delete", "Which task should I delete?"),
        ("add pay rent 2025-02-30", "2025-02-30 is not a valid date"),
    ],
)
def test_help_and_errors(message, reply_part):
    intent = parse(message, FIXED_TODAY)
    assert intent.action == "help"
    assert reply_part in intent.reply


def test_date_extraction_keeps_rest():
    assert extract_due_date("ship it on friday please", FIXED_TODAY) == ("ship it please", D(2025, 1, 17))
    assert extract_due_date("no date here", FIXED_TODAY) == ("no date here", None)


def test_weekday_rollover_across_month_and_year():
    assert parse("add party friday", D(2024, 12, 30)).due_date == D(2025, 1, 3)
    assert parse("add party tomorrow", D(2024, 12, 31)).due_date == D(2025, 1, 1)
    assert parse("add leap today", D(2024, 2, 29)).due_date == D(2024, 2, 29)
