"""Templates: workflow files offered to PySpur's editor as starting points
(``GET /templates/``, see docs/pyspur.md).

A template is a ``*.json`` file of the templates folder (``SPURLINE_TEMPLATES_DIR``,
default ``examples``) holding ``{name, description, definition}`` and optionally
PySpur's ``metadata: {name, description, features}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Template:
    """One template file."""

    file_name: str
    name: str
    description: str
    definition: dict[str, Any]
    features: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """``{name, description, features, file_name}`` as PySpur lists templates."""
        return {
            "name": self.name,
            "description": self.description,
            "features": self.features,
            "file_name": self.file_name,
        }


def _read(path: Path) -> Template | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # not a template: skipped rather than failing the whole list
    if not isinstance(data, dict) or not isinstance(data.get("definition"), dict):
        return None
    meta: dict[str, Any] = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    features = meta.get("features") or []
    return Template(
        file_name=path.name,
        name=str(meta.get("name") or data.get("name") or path.stem),
        description=str(meta.get("description") or data.get("description") or ""),
        definition=data["definition"],
        features=[str(f) for f in features] if isinstance(features, list) else [],
    )


def list_templates(folder: Path) -> list[Template]:
    """Every readable template in ``folder``, by name; ``[]`` when there is no folder."""
    if not folder.is_dir():
        return []
    found = (_read(p) for p in sorted(folder.glob("*.json")))
    return sorted((t for t in found if t is not None), key=lambda t: t.name.lower())


def load_template(folder: Path, file_name: str) -> Template | None:
    """The template ``file_name`` names in ``folder`` (a bare file name; paths that
    would leave the folder name nothing), or None."""
    if Path(file_name).name != file_name or not file_name.endswith(".json"):
        return None
    path = folder / file_name
    return _read(path) if path.is_file() else None
