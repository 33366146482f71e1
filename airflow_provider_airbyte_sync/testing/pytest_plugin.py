"""pytest plugin: an ``airbyte_emulator`` fixture (registered through the ``pytest11`` entry point).

Top-level imports stay light: pytest loads this module in every session of every project that has
the provider installed, so the emulator itself is imported only when a test asks for the fixture.

Options for one test go through a marker::

    @pytest.mark.airbyte_emulator(auth="token", server_version="2022")
    def test_something(airbyte_emulator): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_airbyte_sync.testing.emulator import AirbyteEmulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "airbyte_emulator(**kwargs): keyword arguments for the airbyte_emulator fixture"
    )


@pytest.fixture
def airbyte_emulator(request: pytest.FixtureRequest) -> Iterator[AirbyteEmulator]:
    """A started Airbyte emulator on a free port of 127.0.0.1, stopped after the test."""
    from airflow_provider_airbyte_sync.testing.emulator import AirbyteEmulator

    marker = request.node.get_closest_marker("airbyte_emulator")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    emulator = AirbyteEmulator(**kwargs)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
