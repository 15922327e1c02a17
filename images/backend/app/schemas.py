"""Request and response models (pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    done: bool = False
    due_date: date | None = None


class TaskUpdate(BaseModel):
    """Partial update: only the fields present are changed; `due_date: null` clears the date."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    done: bool | None = None
    due_date: date | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    done: bool
    due_date: date | None
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands back naive datetimes; they were written in UTC.
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


ChatAction = Literal["add", "list", "complete", "delete", "help", "not_found"]


class ChatResponse(BaseModel):
    reply: str
    action: ChatAction
    task: TaskOut | None = None
    tasks: list[TaskOut] | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "error"]
    database: str
    reason: str | None = Field(default=None, description="Why the database check failed")


class ErrorOut(BaseModel):
    detail: str
