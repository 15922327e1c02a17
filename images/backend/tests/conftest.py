from __future__ import annotations

import logging
from datetime import date

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

# A Wednesday: every date expectation in the tests is relative to it.
FIXED_TODAY = date(2025, 1, 15)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(sqlite_path=str(tmp_path / "tasks.db"))


@pytest.fixture
def client(settings):
    app = create_app(settings, today=lambda: FIXED_TODAY)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def app_log(caplog):
    """caplog for the app's own loggers (they do not propagate to the root logger)."""
    logger = logging.getLogger("justpush")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="justpush")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
