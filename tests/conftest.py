"""Shared fixtures: an isolated per-user folder and a small real sales database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# A knowledge base with a few hundred examples exercises the same code as the full 1,500, faster.
os.environ.setdefault("GEMSQL_KB_MAX_EXAMPLES", "150")


@pytest.fixture(scope="session")
def gemsql_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-user folder for the whole test session, so tests never touch the real one."""
    path = tmp_path_factory.mktemp("gemsql-home")
    os.environ["GEMSQL_HOME"] = str(path)
    return path


@pytest.fixture(scope="session")
def sales_db(gemsql_home: Path) -> Path:
    """The bundled sales database at a small scale (same generator, same schema)."""
    from tools.sales_db import build_sales_db

    return build_sales_db(gemsql_home / "sales-small.duckdb", scale=0.05)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Gemma 3 saved like a real one (same loading code path)."""
    from tiny_model import build_tiny_gemma

    return build_tiny_gemma(tmp_path_factory.mktemp("tiny") / "gemma")


@pytest.fixture(scope="session")
def tiny_adapter(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter for the tiny model, with random B so that it changes outputs."""
    from tiny_model import build_tiny_adapter

    return build_tiny_adapter(tiny_dir, tmp_path_factory.mktemp("tiny") / "lora")
