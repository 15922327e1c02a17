"""Task operations shared by the REST routes and the chat endpoint."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .chat import HELP, Intent
from .db import Task
from .schemas import ChatResponse, TaskOut


def list_tasks(session: Session, done: bool | None = None) -> list[Task]:
    query = select(Task).order_by(Task.id)
    if done is not None:
        query = query.where(Task.done == done)
    return list(session.scalars(query))


def create_task(session: Session, title: str, due_date: date | None = None, done: bool = False) -> Task:
    task = Task(title=title, due_date=due_date, done=done)
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


def find_by_title(session: Session, words: str) -> list[Task]:
    needle = words.strip().lower()
    exact = list(session.scalars(select(Task).where(func.lower(Task.title) == needle).order_by(Task.id)))
    if exact:
        return exact
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(
        select(Task).where(func.lower(Task.title).like(f"%{escaped}%", escape="\\")).order_by(Task.id)
    ))


def describe(task: Task | TaskOut) -> str:
    text = f'#{task.id} "{task.title}"'
    if task.due_date:
        text += f" (due {task.due_date.strftime('%a')} {task.due_date.isoformat()})"
    return text


def _out(task: Task) -> TaskOut:
    return TaskOut.model_validate(task)


def _resolve(session: Session, intent: Intent) -> tuple[Task | None, ChatResponse | None]:
    """Find the task an intent refers to, or the response explaining why not."""
    if intent.task_id is not None:
        task = session.get(Task, intent.task_id)
        if task is None:
            return None, ChatResponse(reply=f"There is no task #{intent.task_id}. Say \"list\" to see your tasks.",
                                      action="not_found")
        return task, None
    matches = find_by_title(session, intent.title or "")
    if not matches:
        return None, ChatResponse(reply=f'No task matches "{intent.title}". Say "list" to see your tasks.',
                                  action="not_found")
    if len(matches) > 1:
        options = ", ".join(describe(t) for t in matches[:5])
        return None, ChatResponse(reply=f"Which one? {options}. Use the task number, e.g. \"{intent.action} {matches[0].id}\".",
                                  action="help", tasks=[_out(t) for t in matches])
    return matches[0], None


def execute(session: Session, intent: Intent) -> ChatResponse:
    if intent.action == "add":
        task = create_task(session, intent.title or "", intent.due_date)
        return ChatResponse(reply=f"Added {describe(task)}.", action="add", task=_out(task))

    if intent.action == "list":
        done = {"all": None, "pending": False, "done": True}[intent.filter]
        tasks = list_tasks(session, done)
        label = {"all": "", "pending": "pending ", "done": "completed "}[intent.filter]
        if not tasks:
            hint = ' Try "add buy milk tomorrow".' if intent.filter == "all" else ""
            return ChatResponse(reply=f"You have no {label}tasks.{hint}", action="list", tasks=[])
        lines = [("[x] " if t.done else "[ ] ") + describe(t) for t in tasks]
        noun = "task" if len(tasks) == 1 else "tasks"
        return ChatResponse(reply=f"You have {len(tasks)} {label}{noun}:\n" + "\n".join(lines),
                            action="list", tasks=[_out(t) for t in tasks])

    if intent.action in ("complete", "delete"):
        task, problem = _resolve(session, intent)
        if problem is not None:
            return problem
        assert task is not None
        if intent.action == "complete":
            if task.done:
                return ChatResponse(reply=f"{describe(task)} was already done.", action="complete", task=_out(task))
            task.done = True
            session.commit()
            session.refresh(task)
            return ChatResponse(reply=f"Marked {describe(task)} as done.", action="complete", task=_out(task))
        snapshot = _out(task)
        session.delete(task)
        session.commit()
        return ChatResponse(reply=f"Deleted {describe(snapshot)}.", action="delete", task=snapshot)

    return ChatResponse(reply=intent.reply or HELP, action="help")
