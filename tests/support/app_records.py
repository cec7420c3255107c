"""The records of the app under test (its SQLite file), read as the service reads them.

Import the fixture where it is used (`from tests.support.app_records import records as
records`): the contract suites bring a `records` fixture of their own, per backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from exhibit.settings import Settings
from storage.database import create_engine
from storage.records import SqlRecords


@pytest.fixture
async def records(settings: Settings) -> AsyncIterator[SqlRecords]:
    """The app's records, on the database its settings name."""
    engine = create_engine(settings.database_url.get_secret_value())
    yield SqlRecords(engine)
    await engine.dispose()
