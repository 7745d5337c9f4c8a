"""Write the JSON Schema of every event to ``schemas/json/`` (``raqib schemas export``)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.models import EVENTS

JSON_DIR = Path(__file__).parent / "json"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, stable byte for byte so the drift test can compare."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False)
        + "\n"
        for name, model in EVENTS.items()
    }


def export_schemas(target: Path = JSON_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
