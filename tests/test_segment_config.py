"""``TIKTOK_PIXEL_MAPPINGS``: loaded from TOML or JSON and checked when the app starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, page

from pixel_embed import ConfigurationError, TikTokPixel
from pixel_embed.segment import MappingError, SegmentMapping, SegmentMappings

CUSTOM_TOML = """\
presets = "default"

[[mappings]]
name = "Custom event"
subscribe = 'event = "segment_event"'
partnerAction = "reportWebEvent"

[mappings.mapping]
event = "tiktok_custom_event"
value = { "@path" = "$.properties.total" }
description = ""
contents = { "@arrayPath" = ["$.properties.items", { content_id = { "@path" = "$.sku" } }] }
"""


def start(mappings: object) -> TikTokPixel:
    return TikTokPixel(make_app(TIKTOK_PIXEL_MAPPINGS=mappings))


def test_defaults_to_the_destinations_presets() -> None:
    app = make_app()
    pixel = TikTokPixel(app)
    assert app.config["TIKTOK_PIXEL_MAPPINGS"] is None
    with app.test_request_context():
        assert [m.name for m in pixel.segment.mappings] == [
            "View Content",
            "Search",
            "Add to Wishlist",
            "Add to Cart",
            "Initiate Checkout",
            "Add Payment Info",
            "Place an Order",
            "Identify",
        ]


def test_custom_event_from_a_toml_file(tmp_path: Path) -> None:
    file = tmp_path / "mappings.toml"
    file.write_text(CUSTOM_TOML, encoding="utf-8")
    app = make_app(TIKTOK_PIXEL_MAPPINGS=str(file))
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track(
            "segment_event",
            {"total": 12, "currency": "EUR", "description": "d", "items": [{"sku": "s1"}]},
            message_id="m-1",
        )
        return page()

    html = app.test_client().get("/").text
    assert (
        '  ttq.track("tiktok_custom_event",{"contents":[{"content_id":"s1"}],'
        '"content_type":"product","currency":"EUR","value":12},{"event_id":"m-1"});'
    ) in html.splitlines()


@pytest.mark.parametrize(("presets", "count"), [("none", 1), ("latest", 17), ("default", 9)])
def test_a_json_file_chooses_its_presets(tmp_path: Path, presets: str, count: int) -> None:
    file = tmp_path / "mappings.json"
    entry = {"name": "Lead", "subscribe": 'event = "Lead Captured"', "mapping": {"event": "Lead"}}
    file.write_text(json.dumps({"presets": presets, "mappings": [entry]}), encoding="utf-8")
    assert len(SegmentMappings.load(file)) == count
    app = make_app(TIKTOK_PIXEL_MAPPINGS=file)
    pixel = TikTokPixel(app)
    with app.test_request_context():
        assert len(pixel.segment.mappings) == count


def mapping_file(tmp_path: Path, entry: dict[str, Any]) -> str:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"presets": "none", "mappings": [entry]}), encoding="utf-8")
    return str(file)


ENTRY = {"name": "Custom", "subscribe": 'event = "segment_event"'}


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (
            {**ENTRY, "mapping": {"event": "tiktok_custom_event", "vaule": 1}},
            "vaule",
            "is not a field of reportWebEvent",
        ),
        ({**ENTRY, "mapping": {}}, "event", "is required: the TikTok event to report"),
        (
            {**ENTRY, "mapping": {"event": "1 bad name"}},
            "event",
            "'1 bad name' is not an event name",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "value": "$.properties.total"}},
            "value",
            "is the text '$.properties.total'; to read that path write "
            '{"@path": "$.properties.total"}',
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "value": {"@path": "properties.total"}}},
            "value",
            "has 'properties.total' is not a path",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "value": {"@template": "{{x}}"}}},
            "value",
            "uses '@template'; the directives supported are @path, @if, @arrayPath",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "value": {"@if": {"then": {"@path": "$.a"}}}}},
            "value",
            "has an @if that needs 'exists' and 'then'",
        ),
        (
            {
                **ENTRY,
                "mapping": {
                    "event": "Lead",
                    "contents": {"@arrayPath": ["$.properties.items", {"content_id": "$.sku"}]},
                },
            },
            "contents.content_id",
            "is the text '$.sku'",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "contents": {"@path": "$.properties.items"}}},
            "contents",
            "must be an @arrayPath",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "address": {"street": {"@path": "$.x"}}}},
            "address.street",
            "is not a field of address",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead", "event_spec_type": "boat_fields"}},
            "event_spec_type",
            "'boat_fields' is not one of ['travel_fields', 'vehicle_fields']",
        ),
        (
            {**ENTRY, "subscribe": 'event == "x"', "mapping": {"event": "Lead"}},
            "subscribe",
            "expected",
        ),
        ({**ENTRY, "partnerAction": "reportOfflineEvent"}, "partnerAction", "is not one of"),
        (
            {**ENTRY, "partnerAction": "identify", "mapping": {"event": "Lead"}},
            "event",
            "is not a field of identify",
        ),
        (
            {**ENTRY, "enabled": "yes", "mapping": {"event": "Lead"}},
            "enabled",
            "must be true or false",
        ),
        (
            {**ENTRY, "mapping": {"event": "Lead"}, "subscription": "x"},
            "subscription",
            "is not a key",
        ),
        ({"name": "Custom", "mapping": {"event": "Lead"}}, "subscribe", "is required"),
        ({**ENTRY, "subscribe": 3, "mapping": {"event": "Lead"}}, "subscribe", "must be a string"),
        (
            {**ENTRY, "partnerAction": "identify", "mapping": {"event_spec_type": "travel_fields"}},
            "event_spec_type",
            "is not a field of identify",
        ),
    ],
)
def test_invalid_mappings_fail_at_start_up_naming_mapping_and_field(
    tmp_path: Path, entry: dict[str, Any], field: str, message: str
) -> None:
    file = mapping_file(tmp_path, entry)
    with pytest.raises(MappingError) as caught:
        start(file)
    assert (caught.value.mapping, caught.value.field) == ("Custom", field)
    assert str(caught.value).startswith(f"{file}: mapping 'Custom', field {field!r} ")
    assert message in str(caught.value)


def test_an_unnamed_entry_is_named_by_its_position(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="mapping '#1', field 'name' is required"):
        start(mapping_file(tmp_path, {"subscribe": 'type = "page"'}))


def test_two_mappings_with_one_name(tmp_path: Path) -> None:
    custom = SegmentMapping(name="Search", subscribe='type = "page"', mapping={"event": "Search"})
    with pytest.raises(MappingError, match="mapping 'Search' is defined twice"):
        SegmentMappings.presets(custom)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "TIKTOK_PIXEL_MAPPINGS must be None .* not 42"),
        ("mappings.yaml", "TIKTOK_PIXEL_MAPPINGS 'mappings.yaml' is not a .toml or .json file"),
        ("/nonexistent/mappings.toml", "'/nonexistent/mappings.toml' cannot be read: No such file"),
    ],
)
def test_bad_config_values(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        start(value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.toml", "presets = ", "is not valid toml"),
        ("m.json", "{", "is not valid json"),
        ("m.json", '{"presets": "newest"}', "presets 'newest' is not one of"),
        ("m.json", '{"mapping": []}', r"unknown keys \['mapping'\]"),
        ("m.json", '{"mappings": {}}', "mappings must be a list"),
        ("m.json", "[]", "mappings must be a table"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        start(str(file))


def test_a_failed_start_leaves_the_app_unregistered(tmp_path: Path) -> None:
    app = make_app(TIKTOK_PIXEL_MAPPINGS=mapping_file(tmp_path, {**ENTRY, "mapping": {}}))
    with pytest.raises(MappingError):
        TikTokPixel(app)
    assert "tiktok_pixel" not in app.extensions
