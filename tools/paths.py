"""Where gemsql keeps its per-user files.

Everything lives under one folder so that a user can find, back up or delete it at once:
``$GEMSQL_HOME`` if set, else ``$XDG_DATA_HOME/gemsql``, else ``~/.local/share/gemsql``.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of gemsql's per-user files (created on demand)."""
    explicit = os.environ.get("GEMSQL_HOME")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gemsql"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    """The bundled sales database, generated on first use."""
    return home() / "sales.duckdb"


def models_dir() -> Path:
    """Converted base models (GGUF dequantised to safetensors) and exported backends."""
    return _sub("models")


def charts_dir() -> Path:
    """Plotly HTML files written by the CLI and the chat."""
    return _sub("charts")


def kb_dir() -> Path:
    """Chroma knowledge bases, one per database."""
    return _sub("kb")
