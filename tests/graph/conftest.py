"""Unit tests of the graph package run against a fixed NodeSpec registry (see builders.py);
the conformance test uses the real one."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from tests.graph.builders import TEST_SPECS


@pytest.fixture
def specs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Swap the node registry for the fixed test one."""
    module = importlib.import_module("tideflow.workflows.nodes")
    monkeypatch.setattr(module, "NODE_SPECS", TEST_SPECS, raising=False)
    yield
