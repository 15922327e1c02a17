"""FastAPI application: `uvicorn app.main:app` (or `python -m app`, which honours PORT)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Response, Security, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from . import __version__
from . import db as dbmod
from . import llm as llmmod
from .chat import parse as rule_parse
from .config import Settings
from .db import StartupError, Task
from .schemas import ChatRequest, ChatResponse, ErrorOut, HealthOut, TaskCreate, TaskOut, TaskUpdate
from .service import create_task, execute, list_tasks

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """One line per event on stderr; uvicorn's own access log is replaced by ours."""
    root = logging.getLogger("justpush")
    if not any(getattr(h, "_justpush", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._justpush = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    root.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request URL at INFO; keep the log to one line per API request.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


log = logging.getLogger("justpush.app")
access_log = logging.getLogger("justpush.access")

api_key_scheme = APIKeyHeader(
    name="apikey",
    scheme_name="apiKey",
    description="API key checked by Kong's key-auth plugin at the gateway (printed by "
    "`kubectl justpush up`). The service itself trusts the gateway.",
    auto_error=False,
)


class StartupFailureFilter:
    """Replace the traceback Starlette sends with a failed start-up by nothing: the clear
    one-line reason has already been logged, so uvicorn only adds 'Application startup failed'."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def filtered_send(message):
            if message.get("type") == "lifespan.startup.failed":
                state = getattr(scope.get("app"), "state", None)
                if getattr(state, "startup_error", None):
                    message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        return await self.app(scope, receive, filtered_send)


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def get_today(request: Request) -> date:
    return request.app.state.today()


SessionDep = Annotated[Session, Depends(get_session)]
TaskId = Annotated[int, Path(ge=1, description="Task number")]
NOT_FOUND = {404: {"model": ErrorOut, "description": "No task with this id"}}


def _get_or_404(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id} not found")
    return task


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Security(api_key_scheme)])

    @router.get("/tasks", response_model=list[TaskOut], tags=["tasks"], summary="List tasks")
    def list_route(session: SessionDep,
                   done: Annotated[bool | None, Query(description="Only done (true) or pending (false) tasks")] = None):
        return list_tasks(session, done)

    @router.post("/tasks", response_model=TaskOut, status_code=201, tags=["tasks"], summary="Create a task")
    def create_route(body: TaskCreate, session: SessionDep):
        return create_task(session, body.title, body.due_date, body.done)

    @router.get("/tasks/{task_id}", response_model=TaskOut, responses=NOT_FOUND, tags=["tasks"], summary="Get a task")
    def get_route(task_id: TaskId, session: SessionDep):
        return _get_or_404(session, task_id)

    @router.patch("/tasks/{task_id}", response_model=TaskOut, responses=NOT_FOUND, tags=["tasks"],
                  summary="Update some fields of a task (title, done, due_date)")
    def patch_route(task_id: TaskId, body: TaskUpdate, session: SessionDep):
        task = _get_or_404(session, task_id)
        fields = body.model_dump(exclude_unset=True)
        for name in ("title", "done"):
            if name in fields and fields[name] is None:
                raise HTTPException(422, f"{name} cannot be null")
        for name, value in fields.items():
            setattr(task, name, value)
        session.commit()
        session.refresh(task)
        return task

    @router.put("/tasks/{task_id}", response_model=TaskOut, responses=NOT_FOUND, tags=["tasks"],
                summary="Replace a task")
    def put_route(task_id: TaskId, body: TaskCreate, session: SessionDep):
        task = _get_or_404(session, task_id)
        task.title, task.done, task.due_date = body.title, body.done, body.due_date
        session.commit()
        session.refresh(task)
        return task

    @router.delete("/tasks/{task_id}", status_code=204, responses=NOT_FOUND, tags=["tasks"], summary="Delete a task")
    def delete_route(task_id: TaskId, session: SessionDep):
        session.delete(_get_or_404(session, task_id))
        session.commit()
        return Response(status_code=204)

    @router.post("/chat", response_model=ChatResponse, tags=["chat"],
                 summary="Tell the assistant what to do: add, list, complete or delete tasks")
    def chat_route(body: ChatRequest, request: Request, response: Response, session: SessionDep,
                   today: Annotated[date, Depends(get_today)]):
        llm: llmmod.LLMParser | None = request.app.state.llm
        engine = "rules"
        intent = None
        if llm is not None:
            try:
                intent = llm.parse(body.message, today)
                engine = llm.provider
            except llmmod.LLMError as exc:
                log.warning("chat: %s unavailable, using the rule-based parser: %s", llm.provider, exc)
            except Exception as exc:  # noqa: BLE001 - never fail the request because of the model
                log.warning("chat: %s failed (%s), using the rule-based parser", llm.provider, type(exc).__name__)
        if intent is None:
            intent = rule_parse(body.message, today)
        response.headers["X-Chat-Engine"] = engine
        return execute(session, intent)

    return router


def create_app(settings: Settings | None = None, *, today: Callable[[], date] | None = None,
               llm_transport: httpx.BaseTransport | None = None) -> FastAPI:
    """Build the app. Settings default to the environment, read at start-up (not import)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        conf = settings or Settings.from_env()
        configure_logging(conf.log_level)
        try:
            app.state.db = dbmod.connect(conf)
        except StartupError as exc:
            app.state.startup_error = str(exc)
            log.error("startup failed: %s", exc)
            raise
        app.state.llm = llmmod.from_settings(conf, transport=llm_transport)
        engine = app.state.llm.provider if app.state.llm else "rules"
        log.info("justpush demo API %s ready: database=%s chat=%s", __version__, app.state.db.backend, engine)
        try:
            yield
        finally:
            if app.state.llm is not None:
                app.state.llm.close()
            app.state.db.dispose()

    app = FastAPI(
        title="justpush demo API",
        version=__version__,
        description="Tasks and a chat assistant; the demo app deployed by `kubectl justpush up --demo`.",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.today = today or date.today
    app.state.startup_error = None
    app.state.llm = None

    @app.middleware("http")
    async def access_log_middleware(request: Request, call_next):
        started = time.perf_counter()
        status_code = 500
        try:
            response = await call_next(request)
            status_code = response.status_code
            return response
        finally:
            client = request.client.host if request.client else "-"
            access_log.info("%s %s %d %.1fms client=%s", request.method, request.url.path, status_code,
                            (time.perf_counter() - started) * 1000, client)

    # Behind Kong the page and the API share one origin. When the page is served from elsewhere
    # (NEXT_PUBLIC_API_BASE on another host) CORS_ORIGINS lists the page origins to allow.
    cors_origins = (settings or Settings.from_env()).cors_origins
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                           allow_headers=["apikey", "content-type", "accept"])
    app.add_middleware(StartupFailureFilter)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError):
        reason = dbmod._first_line(exc)
        log.error("database error on %s %s: %s", request.method, request.url.path, reason)
        return JSONResponse(status_code=503, content={"detail": f"database unavailable: {reason}"})

    @app.get("/api/health", tags=["health"], summary="Liveness/readiness: checks the database",
             response_model=HealthOut, response_model_exclude_none=True,
             responses={503: {"model": HealthOut, "description": "The database does not answer"}},
             openapi_extra={"security": []})
    def health(request: Request):
        db: dbmod.Database = request.app.state.db
        try:
            db.ping()
        except Exception as exc:  # noqa: BLE001
            reason = dbmod._first_line(exc)
            log.warning("health: database check failed: %s", reason)
            return JSONResponse(status_code=503, content={
                "status": "error", "database": db.backend, "reason": f"database query failed: {reason}"})
        return {"status": "ok", "database": db.backend}

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_under_api():
        return JSONResponse(app.openapi())

    app.include_router(build_router())
    return app


configure_logging()
app = create_app()
