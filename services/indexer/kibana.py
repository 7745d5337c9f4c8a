"""``raqib kibana import``: load the saved objects of ``deploy/kibana/`` into Kibana.

One multipart upload to ``POST /api/saved_objects/_import?overwrite=true`` (with the
``kbn-xsrf`` header Kibana requires), so references between the objects resolve in one go and
a re-run replaces what an earlier one imported. Kibana answers 200 even when single objects
fail; those per-object errors are an error here too. The data views' titles are made from the
configured aliases at import (``for_aliases``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.indexer.settings import KibanaSettings

# In the repository (editable install) or in the image's working directory (/app).
_REPO_KIBANA = Path(__file__).resolve().parents[2] / "deploy" / "kibana"
DEFAULT_SAVED_OBJECTS_DIR = _REPO_KIBANA if _REPO_KIBANA.is_dir() else Path("deploy/kibana")


class KibanaImportError(Exception):
    """The import failed; the message says what Kibana or the file said."""


def load_saved_objects(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every saved object of the NDJSON ``paths``, checked to be ``{type, id, attributes}``."""
    objects: list[dict[str, Any]] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise KibanaImportError(f"{path}: {error}") from error
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise KibanaImportError(f"{path}:{number}: not JSON: {error}") from error
            if not isinstance(item, dict) or not {"type", "id", "attributes"} <= item.keys():
                raise KibanaImportError(
                    f"{path}:{number}: not a saved object (type, id, attributes)"
                )
            objects.append(item)
    if not objects:
        raise KibanaImportError(f"no saved objects in {', '.join(map(str, paths)) or 'no files'}")
    return objects


# The data views of deploy/kibana/, by id, and which configured alias each one reads.
ARTICLES_DATA_VIEW, ALERTS_DATA_VIEW = "raqib-articles", "raqib-alerts"


def data_view_title(alias: str) -> str:
    """The pattern a data view reads: the alias and the monthly indices behind it."""
    return f"{alias}*"


def for_aliases(
    objects: Sequence[Mapping[str, Any]], *, articles_alias: str, alerts_alias: str
) -> list[dict[str, Any]]:
    """The saved objects with their data views' titles made from the configured aliases
    (``RAQIB_ES_ARTICLES_ALIAS``, ``RAQIB_ES_ALERTS_ALIAS``), so the dashboards read the
    indices the indexer writes. The other objects refer to the data views by id."""
    aliases = {ARTICLES_DATA_VIEW: articles_alias, ALERTS_DATA_VIEW: alerts_alias}
    changed: list[dict[str, Any]] = []
    for item in objects:
        copy = json.loads(json.dumps(item))
        if copy["type"] == "index-pattern" and copy["id"] in aliases:
            copy["attributes"]["title"] = data_view_title(aliases[copy["id"]])
        changed.append(copy)
    return changed


def saved_object_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        raise KibanaImportError(f"no .ndjson files in {directory}")
    return files


def ndjson(objects: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode()


def import_url(base: str, space: str | None) -> str:
    root = base.rstrip("/")
    if space and space != "default":
        root += f"/s/{space}"
    return f"{root}/api/saved_objects/_import?overwrite=true"


@dataclass(frozen=True)
class ImportResult:
    imported: int


def read_import_response(status: int, body: bytes) -> ImportResult:
    """What Kibana's answer means: the count imported, or ``KibanaImportError`` saying why not."""
    text = body.decode("utf-8", "replace")
    if not 200 <= status < 300:
        raise KibanaImportError(f"Kibana answered {status}: {text[:500]}")
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise KibanaImportError(f"Kibana answered {status} with no JSON: {text[:200]}") from error
    if not isinstance(answer, dict):
        raise KibanaImportError(f"unexpected answer from Kibana: {text[:200]}")
    errors = answer.get("errors") or []
    if answer.get("success") is not True or errors:
        described = [
            f"{e.get('type')} {e.get('id')} ({e.get('title', '')}): "
            f"{json.dumps(e.get('error', {}), ensure_ascii=False)}"
            for e in errors
            if isinstance(e, dict)
        ]
        raise KibanaImportError(
            f"Kibana imported {answer.get('successCount', 0)} objects and refused "
            f"{len(described)}: " + "; ".join(described or [text[:300]])
        )
    return ImportResult(int(answer.get("successCount", 0)))


def import_saved_objects(
    base_url: str, objects: Sequence[Mapping[str, Any]], settings: KibanaSettings
) -> ImportResult:
    headers = {"kbn-xsrf": "true"}
    auth: httpx.BasicAuth | None = None
    if settings.api_key is not None:
        headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        auth = httpx.BasicAuth(settings.username, password)
    verify: Any = settings.ca_certs or settings.verify_certs
    try:
        response = httpx.post(
            import_url(base_url, settings.space),
            headers=headers,
            auth=auth,
            files={"file": ("raqib.ndjson", ndjson(objects), "application/ndjson")},
            timeout=settings.timeout_s,
            verify=verify,
        )
    except httpx.HTTPError as error:
        raise KibanaImportError(f"cannot reach Kibana at {base_url}: {error}") from error
    return read_import_response(response.status_code, response.content)
