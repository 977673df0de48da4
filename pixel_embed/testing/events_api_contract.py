"""What TikTok's Events API accepts, as the fake Events API checks it: the path, the
``Access-Token`` header, the JSON shape, hashed user fields, each source's id and required
fields (:mod:`pixel_embed.events_api.sources`), and at most 1,000 events a request."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidEvent
from ..matching import HASHED_FIELDS, is_sha256

#: The path of TikTok's endpoint, which the fake serves.
EVENTS_API_PATH = "/open_api/v1.3/event/track/"
#: Events TikTok takes at most in one request
#: (:data:`pixel_embed.events_api.batching.MAX_BATCH_EVENTS`).
MAX_EVENTS_PER_REQUEST = 1000
_HASHED_USER_FIELDS = {"phone" if name == "phone_number" else name for name in HASHED_FIELDS}


def contract_problems(
    method: str, path: str, headers: dict[str, str], body: Any, access_token: str
) -> list[str]:
    """How one request breaks the Events API contract (empty when it keeps it)."""
    # Here, not at the top: importing pixel_embed.events_api loads its Flask hooks, and the
    # QA kit's plugin imports this module in every test session.
    from ..events_api.sources import SOURCES, Destination, missing_fields

    problems = []
    if method != "POST" or path != EVENTS_API_PATH:
        problems.append(f"{method} {path}: expected POST {EVENTS_API_PATH}")
    if headers.get("access-token") != access_token:
        problems.append("Access-Token header is missing or wrong")
    if not headers.get("content-type", "").startswith("application/json"):
        problems.append(f"Content-Type {headers.get('content-type')!r} is not application/json")
    if not isinstance(body, dict):
        return [*problems, "the body is not a JSON object"]
    source = body.get("event_source")
    if source not in SOURCES:
        problems.append(f"event_source {source!r} is not one of {', '.join(SOURCES)}")
        source = None
    source_id = body.get("event_source_id")
    if not isinstance(source_id, str):
        problems.append(f"event_source_id {source_id!r} is not a string")
    elif source is not None:
        try:
            Destination(source, source_id)
        except InvalidEvent as exc:
            problems.append(f"event_source_id {source_id!r} {exc.problem}")
    if not isinstance(body.get("data"), list) or not body["data"]:
        return [*problems, "data is not a non-empty list"]
    if len(body["data"]) > MAX_EVENTS_PER_REQUEST:
        problems.append(
            f"data holds {len(body['data'])} events: TikTok takes {MAX_EVENTS_PER_REQUEST} at most"
        )
    for index, item in enumerate(body["data"]):
        where = f"data[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        for key, kind in (
            ("event", str),
            ("event_id", str),
            ("user", dict),
            ("properties", dict),
            ("limited_data_use", bool),
        ):
            if not isinstance(item.get(key), kind):
                problems.append(f"{where}.{key} {item.get(key)!r} is not a {kind.__name__}")
        event_time = item.get("event_time")
        if not isinstance(event_time, int) or isinstance(event_time, bool):
            problems.append(f"{where}.event_time {event_time!r} is not Unix seconds")
        for key, value in (item.get("user") or {}).items():
            if key in _HASHED_USER_FIELDS and not (isinstance(value, str) and is_sha256(value)):
                problems.append(f"{where}.user.{key} is not a SHA-256 digest")
        missing = missing_fields(source, item) if source is not None else None
        if missing is not None:
            problems.append(f"{where}.{missing.field}: {source} event: {missing.problem}")
    return problems
