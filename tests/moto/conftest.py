"""Fixtures of the moto shim's tests (helpers live in shimtest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from shimtest import Server

# The world's defaults, restored after each test that changes the shared server's world.
WORLD_DEFAULTS = {
    "time_scale": 0,
    "boot": 90,
    "launch": 10,
    "stopping": 10,
    "image_pending": 30,
    "throttle": False,
    "consistency_ms": 0,
}


@pytest.fixture(scope="session")
def stock() -> Iterator[Server]:
    server = Server("--stock")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shim() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def clean_unhealthy(shim: Server) -> Iterator[None]:
    shim.control("DELETE", "/drydock-shim/unhealthy")
    yield
    shim.control("DELETE", "/drydock-shim/unhealthy")



@pytest.fixture
def no_hold(shim: Server) -> Iterator[None]:
    shim.control("DELETE", "/drydock-shim/hold")
    yield
    shim.control("DELETE", "/drydock-shim/hold")



@pytest.fixture
def world(shim: Server) -> Iterator[Server]:
    """The shared patched server; its world settings and faults are reset afterwards."""
    yield shim
    shim.control("POST", "/drydock-shim/world", WORLD_DEFAULTS)
    shim.control("DELETE", "/drydock-shim/faults")
