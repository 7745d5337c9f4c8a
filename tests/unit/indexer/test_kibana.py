"""The saved objects in deploy/kibana/ and the import's handling of Kibana's answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.indexer.core import (
    ALERT_MAPPINGS,
    ARTICLE_MAPPINGS,
    article_document,
    mapped_fields,
)
from services.indexer.kibana import (
    DEFAULT_SAVED_OBJECTS_DIR,
    KibanaImportError,
    for_aliases,
    import_url,
    load_saved_objects,
    read_import_response,
    saved_object_files,
)
from tests.unit.indexer.articles import deterrence_article

REPO = Path(__file__).resolve().parents[3]
OBJECTS = load_saved_objects(saved_object_files(REPO / "deploy" / "kibana"))
BY_ID = {item["id"]: item for item in OBJECTS}
FIELDS_OF_VIEW = {
    "raqib-articles": mapped_fields(ARTICLE_MAPPINGS),
    "raqib-alerts": mapped_fields(ALERT_MAPPINGS),
}
# Lens's name for "count of documents", not a field.
LENS_RECORDS = "___records___"
KQL_FIELD = re.compile(r"([A-Za-z_][\w.]*)\s*:")


def _data_view_of(item: dict[str, Any]) -> str:
    views = {r["id"] for r in item["references"] if r["type"] == "index-pattern"}
    assert len(views) == 1, f"{item['id']} refers to data views {views}"
    return str(views.pop())


def _fields_used(item: dict[str, Any]) -> set[str]:
    """Every field name an object refers to: columns, sorts, Lens source fields, KQL."""
    attributes = item["attributes"]
    fields: set[str] = set()
    if item["type"] == "index-pattern":
        fields.add(attributes["timeFieldName"])
    if item["type"] == "search":
        fields |= set(attributes["columns"])
        fields |= {field for field, _ in attributes["sort"]}
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        fields |= set(KQL_FIELD.findall(source["query"]["query"]))
    if item["type"] == "lens":
        state = attributes["state"]
        for layer in state["datasourceStates"]["formBased"]["layers"].values():
            fields |= {c["sourceField"] for c in layer["columns"].values()} - {LENS_RECORDS}
        fields |= set(KQL_FIELD.findall(state["query"]["query"]))
    return fields


def test_every_field_the_saved_objects_use_is_in_the_templates() -> None:
    checked = 0
    for item in OBJECTS:
        if item["type"] == "dashboard":
            continue
        view = item["id"] if item["type"] == "index-pattern" else _data_view_of(item)
        unknown = sorted(_fields_used(item) - FIELDS_OF_VIEW[view])
        assert not unknown, f"{item['type']} {item['id']} uses unmapped fields {unknown}"
        checked += len(_fields_used(item))
    assert checked > 15


def test_the_field_check_catches_an_unknown_field() -> None:
    lens = json.loads(json.dumps(BY_ID["raqib-top-actors"]))
    layer = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]["layer1"]
    layer["columns"]["actor"]["sourceField"] = "actor_ids"
    assert "actor_ids" in _fields_used(lens) - FIELDS_OF_VIEW["raqib-articles"]


def test_data_views_cover_the_aliases_with_their_time_fields() -> None:
    articles, alerts = BY_ID["raqib-articles"]["attributes"], BY_ID["raqib-alerts"]["attributes"]
    assert (articles["title"], articles["timeFieldName"]) == ("raqib-articles*", "time")
    assert (alerts["title"], alerts["timeFieldName"]) == ("raqib-alerts*", "created_at")


def test_dashboard_panels_resolve_to_objects_in_the_file() -> None:
    dashboard = BY_ID["raqib-overview"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    references = {r["name"]: r for r in dashboard["references"]}
    assert len(panels) == 6
    for panel in panels:
        reference = references[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert reference["id"] in BY_ID and BY_ID[reference["id"]]["type"] == reference["type"]
    shown = {references[f"{p['panelIndex']}:{p['panelRefName']}"]["id"] for p in panels}
    assert {
        "raqib-mentions-over-time",
        "raqib-top-actors",
        "raqib-top-topics",
        "raqib-co-mentions",
        "raqib-latest-alerts",
        "raqib-articles-search",
    } == shown


def test_every_reference_points_inside_the_file() -> None:
    for item in OBJECTS:
        for reference in item["references"]:
            assert reference["id"] in BY_ID, f"{item['id']} refers to missing {reference}"


def test_default_directory_is_the_repositorys() -> None:
    assert DEFAULT_SAVED_OBJECTS_DIR == REPO / "deploy" / "kibana"


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no saved objects"), ("{not json\n", "not JSON"), ('{"id": "x"}\n', "not a saved")],
)
def test_bad_files_are_refused_with_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KibanaImportError, match=message):
        load_saved_objects([path])


def test_import_url_with_and_without_space() -> None:
    assert (
        import_url("http://kibana:5601/", None)
        == "http://kibana:5601/api/saved_objects/_import?overwrite=true"
    )
    assert (
        import_url("http://k", "ops") == "http://k/s/ops/api/saved_objects/_import?overwrite=true"
    )


def test_successful_answer() -> None:
    body = json.dumps({"success": True, "successCount": 9, "successResults": []}).encode()
    assert read_import_response(200, body).imported == 9


def test_per_object_errors_fail_the_import() -> None:
    body = json.dumps(
        {
            "success": False,
            "successCount": 8,
            "errors": [
                {
                    "id": "raqib-top-actors",
                    "type": "lens",
                    "title": "Top actors",
                    "error": {"type": "missing_references"},
                }
            ],
        }
    ).encode()
    with pytest.raises(KibanaImportError, match=r"refused 1: lens raqib-top-actors.*missing_ref"):
        read_import_response(200, body)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, b'{"statusCode":401,"message":"Unauthorized"}', "401.*Unauthorized"),
        (200, b"<html>", "no JSON"),
        (200, b"[]", "unexpected"),
    ],
)
def test_error_answers(status: int, body: bytes, message: str) -> None:
    with pytest.raises(KibanaImportError, match=message):
        read_import_response(status, body)


def _lens_layer(lens_id: str) -> dict[str, Any]:
    state = BY_ID[lens_id]["attributes"]["state"]
    layer: dict[str, Any] = state["datasourceStates"]["formBased"]["layers"]["layer1"]
    return layer


def _watched_actors() -> set[str]:
    """Every actor a rule of deploy/rules.yaml asks for (any or all)."""
    rules = yaml.safe_load((REPO / "deploy" / "rules.yaml").read_text(encoding="utf-8"))["rules"]
    watched: set[str] = set()
    for rule in rules:
        actors = (rule.get("match") or {}).get("actors") or {}
        watched |= set(actors.get("any") or []) | set(actors.get("all") or [])
    return watched


def test_mentions_over_time_shows_exactly_the_watched_actors() -> None:
    layer = _lens_layer("raqib-mentions-over-time")
    breakdown = layer["columns"]["actor"]
    assert breakdown["operationType"] == "terms" and breakdown["sourceField"] == "actors"
    params = breakdown["params"]
    watched = _watched_actors()
    assert len(watched) >= 2
    # An include list of the watched actors, no "other" bucket, room for each of them: a
    # co-mentioned actor never becomes a line, a quiet watched actor never drops out.
    assert set(params["include"]) == watched and params["includeIsRegex"] is False
    assert params["size"] >= len(watched) and params["otherBucket"] is False
    # The breakdown comes first, so its values are chosen over the whole range (fixed series),
    # not as the top values of each interval.
    assert layer["columnOrder"][0] == "actor"
    assert layer["columnOrder"].index("actor") < layer["columnOrder"].index("x")
    query = BY_ID["raqib-mentions-over-time"]["attributes"]["state"]["query"]["query"]
    assert set(re.findall(r'"([a-z0-9-]+)"', query)) == watched


def test_every_time_axis_is_the_time_field() -> None:
    for item in OBJECTS:
        if item["type"] != "lens":
            continue
        for column in _lens_layer(item["id"])["columns"].values():
            if column["operationType"] == "date_histogram":
                assert column["sourceField"] == "time", item["id"]
    assert BY_ID["raqib-articles-search"]["attributes"]["sort"] == [["time", "desc"]]


def test_the_time_field_is_never_empty_in_a_document() -> None:
    undated = deterrence_article().model_copy(update={"published_at": None})
    assert article_document(undated)["time"] == article_document(undated)["fetched_at"]
    dated = deterrence_article()
    assert article_document(dated)["time"] == article_document(dated)["published_at"]


def test_data_view_titles_follow_the_configured_aliases() -> None:
    objects = for_aliases(OBJECTS, articles_alias="ops-articles", alerts_alias="ops-alerts")
    titles = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    assert titles == {"raqib-articles": "ops-articles*", "raqib-alerts": "ops-alerts*"}
    assert [o for o in objects if o["type"] != "index-pattern"] == [
        o for o in OBJECTS if o["type"] != "index-pattern"
    ]
    assert BY_ID["raqib-articles"]["attributes"]["title"] == "raqib-articles*"  # not changed
    defaults = for_aliases(OBJECTS, articles_alias="raqib-articles", alerts_alias="raqib-alerts")
    assert defaults == OBJECTS
