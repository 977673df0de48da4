"""The promise, tried as a property: for any text built from the variant corpus (e-mail
addresses and phone numbers as people type them) spliced into ordinary shop text, no output
channel holds the raw address or number: not the page, the ``PixelEmbed-Calls`` header, the
Events API body, an outbox row, the logs, the audit's report, nor an exception's message."""

from __future__ import annotations

import html
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

from conftest import make_app, page
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from benchmarks.screen import load_corpus
from pixel_embed import (
    Identity,
    InvalidInput,
    TikTokPixel,
    find_personal_data,
    scrub_url,
    validate_event,
)
from pixel_embed.audit.redact import mask_data, mask_text
from pixel_embed.events_api.outbox import Outbox
from pixel_embed.events_api.payload import RequestContext, server_event

VARIANTS = [row["text"] for row in load_corpus("pii_variants")]
ORDINARY = [row["text"] for row in load_corpus("shop_strings")]
# Between pieces, what sentences have: a piece glued to a number without one is another
# number (``12`` + ``138 0013 8000``), which the screen rightly does not take for a phone.
SEPARATORS = [", ", ": ", " | ", "\n", ". ", " (", ") ", " - "]

pieces = st.tuples(
    st.sampled_from(SEPARATORS),
    st.one_of(st.sampled_from(VARIANTS), st.sampled_from(ORDINARY)),
)
texts = st.tuples(
    st.lists(pieces, max_size=2),
    st.sampled_from(SEPARATORS),
    st.sampled_from(VARIANTS),
    st.lists(pieces, max_size=2),
).map(
    lambda parts: (
        "".join(sep + piece for sep, piece in parts[0])
        + parts[1]
        + parts[2]
        + "".join(sep + piece for sep, piece in parts[3])
    ).strip()
)


def raw_pieces(text: str) -> list[str]:
    """What must never appear: each address and number in ``text``, and the forms a channel
    writes it in (JSON-escaped, HTML-escaped, percent-encoded)."""
    forms = []
    for _, value in find_personal_data(text):
        value = value.strip()
        forms += [
            value,
            json.dumps(value)[1:-1],
            html.escape(value),
            quote(value),
            quote_plus(value),
        ]
    return [form for form in dict.fromkeys(forms) if len(form) >= 6]


def assert_nowhere(text: str, channels: dict[str, str]) -> None:
    pieces = raw_pieces(text)
    assert pieces, f"the corpus variant in {text!r} is not found at all"
    for name, output in channels.items():
        for piece in pieces:
            assert piece not in output, f"{piece!r} reached {name}: {output[:300]!r}"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def shop() -> tuple[Flask, TikTokPixel]:
    app = make_app(TIKTOK_PIXEL_STRICT=False, TIKTOK_PIXEL_PARTIAL=True)
    pixel = TikTokPixel(app)
    return app, pixel


APP, PIXEL = shop()
TEXT: dict[str, str] = {}


@APP.get("/page")
def _page() -> str:
    text = TEXT["text"]
    PIXEL.identify(city=text[:120], external_id="u-1")
    PIXEL.track(
        "Search",
        {"query": text, "notes": [text], "extra": {"deep": text}, text[:90]: 1},
        contents=[{"content_id": text[:200], "content_name": text}],
    )
    return page()


@APP.post("/partial")
def _partial() -> str:
    PIXEL.track("Contact", description=TEXT["text"])
    return "ok"


@APP.post("/later")
def _later() -> str:
    PIXEL.track("SubmitForm", description=TEXT["text"], defer=True)
    return "ok"


def _outbox_rows(data: dict[str, object]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "outbox.sqlite3")
        Outbox(path).add([("CODE", data)])
        with sqlite3.connect(path) as connection:
            for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                for row in connection.execute(f"SELECT * FROM {table}"):
                    yield repr(row)


# make test runs a fixed sample, so that a gap found by chance fails the nightly run, not a
# colleague's unrelated change; PIXEL_EMBED_NIGHTLY=1 explores, with more examples.
NIGHTLY = os.environ.get("PIXEL_EMBED_NIGHTLY") == "1"


@settings(
    max_examples=2000 if NIGHTLY else 150,
    derandomize=not NIGHTLY,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(texts)
@example(", 08-12 34 56, 08-12 34 56 (0 12345 67890 5")  # found by chance: "(" opens a number
@example(", 010-6552 9988) 010-6552 9988")  # found by chance: ")" closes one
def test_no_channel_holds_the_raw_address_or_number(text: str) -> None:
    TEXT["text"] = text
    handler = Collect()
    logger = logging.getLogger("pixel_embed")
    logger.addHandler(handler)
    try:
        client = APP.test_client()
        page_html = client.get("/page").text
        header = client.post("/partial", headers={"HX-Request": "true"}).headers.get(
            "PixelEmbed-Calls", ""
        )
        client.post("/later")
        deferred_page = client.get("/page").text
        with client.session_transaction() as saved:
            session_text = json.dumps(dict(saved))
    finally:
        logger.removeHandler(handler)

    event = validate_event(
        "Search", {"query": text, "x": {"y": [text]}}, on_error=lambda error: None
    )
    identity = Identity.from_raw(city=text[:120], email="jane.doe@shop.example", on_error=print)
    # As a browser sends them: percent-encoded (a raw line break is no part of a URL).
    context = RequestContext(
        url=f"https://shop.example/s?q={quote_plus(text)}", referrer=f"https://x/{quote(text)}"
    )
    body = json.dumps(server_event(event, identity, context))
    outbox = "\n".join(_outbox_rows(server_event(event, identity, context)))

    messages = []
    try:
        validate_event("Search", {"query": text})
    except InvalidInput as error:
        messages += [str(error), repr(error), error.redacted()]
    for field in ("email", "phone_number", "city", "first_name"):
        try:
            Identity.from_raw(**{field: text[:120]})  # type: ignore[arg-type]
        except InvalidInput as error:
            messages += [str(error), repr(error)]

    assert_nowhere(
        text,
        {
            "the page": page_html,
            "the page with the deferred event": deferred_page,
            "the PixelEmbed-Calls header": header,
            "the session": session_text,
            "the Events API body": body,
            "an outbox row": outbox,
            "the logs": "\n".join(handler.lines),
            "the audit's report": json.dumps(mask_data({"query": text, "email": text}))
            + mask_text(text),
            "an exception's message": "\n".join(messages),
            "scrub_url": scrub_url(f"https://shop.example/p?q={quote_plus(text)}&ref=1") or "",
        },
    )
