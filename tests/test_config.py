"""The one config object: every ``TIKTOK_PIXEL_*`` key read from a plain mapping, its default,
its check, and an error that names the key and the value's problem."""

from __future__ import annotations

import ipaddress
import math
import re
import subprocess
import sys
import warnings
from typing import Any

import pytest
from conftest import make_app
from hypothesis import given, settings
from hypothesis import strategies as st

from pixel_embed import ConfigurationError
from pixel_embed.core.config import DEFAULTS, EventsApiConfig, PixelConfig
from pixel_embed.segment import SegmentMappings

CODE = "C4A1B2C3D4E5F6G7H8I9"
TOKEN = "tt-token-123"
ON = {"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN}


def test_every_key_has_a_default_and_a_plain_dict_is_enough() -> None:
    assert all(key.startswith("TIKTOK_PIXEL_") for key in DEFAULTS)
    assert len(DEFAULTS) == 30
    config = PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": CODE})
    assert config.pixel is not None
    assert config.pixel.codes == (CODE,)
    assert (config.pixel.ldu, config.pixel.use_existing, config.pixel.auto_page) == (
        False,
        False,
        True,
    )
    assert (config.pixel.consent, config.pixel.load, config.pixel.debug) == ("none", "async", False)
    assert config.pixel.consent_cookie == "pixel_embed_consent"
    assert (config.region, config.strict, config.internal_networks) == (None, False, ())
    assert (config.identity_max_age, config.partial, config.server_events) == (1800.0, False, False)
    assert [m.name for m in config.mappings] == [m.name for m in SegmentMappings.presets()]
    assert config.events_api is None  # no access token: server events off


def test_the_defaults_as_a_mapping_read_as_absent_keys() -> None:
    given = {**DEFAULTS, "TIKTOK_PIXEL_CODE": CODE}
    assert PixelConfig.from_mapping(given) == PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": CODE})


def test_values_are_read_and_normalised() -> None:
    config = PixelConfig.from_mapping(
        {
            "TIKTOK_PIXEL_CODE": [CODE, "D4A1B2C3D4E5F6G7H8I9"],
            "TIKTOK_PIXEL_ENABLED": True,
            "TIKTOK_PIXEL_LDU": True,
            "TIKTOK_PIXEL_USE_EXISTING": False,
            "TIKTOK_PIXEL_AUTO_PAGE": False,
            "TIKTOK_PIXEL_DEFAULT_REGION": "gb",
            "TIKTOK_PIXEL_CONSENT": "hold",
            "TIKTOK_PIXEL_CONSENT_COOKIE": "consent",
            "TIKTOK_PIXEL_INTERNAL_IPS": "10.0.0.0/8",
            "TIKTOK_PIXEL_STRICT": True,
            "TIKTOK_PIXEL_DEBUG": True,
            "TIKTOK_PIXEL_PARTIAL": True,
            "TIKTOK_PIXEL_LOAD": "idle",
            "TIKTOK_PIXEL_IDENTITY_MAX_AGE": 60,
            "TIKTOK_PIXEL_SERVER_EVENTS": True,
        }
    )
    assert config.pixel is not None
    assert len(config.pixel.codes) == 2
    assert config.pixel.ldu
    assert config.pixel.debug
    assert not config.pixel.auto_page
    assert (config.pixel.consent, config.pixel.consent_cookie, config.pixel.load) == (
        "hold",
        "consent",
        "idle",
    )
    assert config.region == "GB"
    assert config.internal_networks == (ipaddress.ip_network("10.0.0.0/8"),)
    assert config.strict
    assert config.partial
    assert config.server_events
    assert config.identity_max_age == 60.0


def test_the_events_api_settings() -> None:
    config = PixelConfig.from_mapping(
        {
            **ON,
            "TIKTOK_PIXEL_TEST_EVENT_CODE": "TEST123",
            "TIKTOK_PIXEL_EVENTS_API_URL": "http://127.0.0.1:9/track/",
            "TIKTOK_PIXEL_EVENTS_API_TIMEOUT": 2,
            "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES": 3,
            "TIKTOK_PIXEL_EVENTS_API_BACKOFF": 0,
            "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE": 10,
            "TIKTOK_PIXEL_EVENTS_QUEUE": "memory",
            "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES": 1000,
            "TIKTOK_PIXEL_EVENTS_MAX_AGE": 600,
            "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT": 1.5,
        }
    )
    events_api = config.events_api
    assert events_api is not None
    assert TOKEN not in repr(events_api)  # the token is never shown
    assert (events_api.url, events_api.test_event_code) == ("http://127.0.0.1:9/track/", "TEST123")
    assert (events_api.timeout, events_api.max_tries, events_api.backoff) == (2, 3, 0)
    assert (events_api.queue, events_api.queue_size, events_api.queue_bytes) == ("memory", 10, 1000)
    assert (events_api.max_age, events_api.shutdown_timeout) == (600, 1.5)
    assert events_api.retry_policy.max_tries == 3
    client = events_api.client()
    assert client.url == "http://127.0.0.1:9/track/"
    # None for the queue's own defaults
    defaults = EventsApiConfig.from_mapping({"TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN})
    assert defaults is not None
    assert (defaults.queue, defaults.max_tries, defaults.queue_bytes) == (None, None, None)
    assert defaults.retry_policy.max_tries == 0


BAD_PAGE: list[tuple[str, Any, str]] = [
    ("TIKTOK_PIXEL_CODE", None, "TIKTOK_PIXEL_CODE is not set"),
    ("TIKTOK_PIXEL_CODE", "nope", "TIKTOK_PIXEL_CODE 'nope' is not a pixel code"),
    ("TIKTOK_PIXEL_CODE", [CODE, CODE], "TIKTOK_PIXEL_CODE lists a code twice"),
    ("TIKTOK_PIXEL_ENABLED", "yes", "TIKTOK_PIXEL_ENABLED must be True or False, not 'yes'"),
    ("TIKTOK_PIXEL_LDU", 1, "TIKTOK_PIXEL_LDU must be True or False, not 1"),
    ("TIKTOK_PIXEL_USE_EXISTING", "no", "TIKTOK_PIXEL_USE_EXISTING must be True or False"),
    ("TIKTOK_PIXEL_AUTO_PAGE", None, "TIKTOK_PIXEL_AUTO_PAGE must be True or False, not None"),
    ("TIKTOK_PIXEL_DEFAULT_REGION", "USA", "TIKTOK_PIXEL_DEFAULT_REGION 'USA' is not an ISO 3166"),
    ("TIKTOK_PIXEL_CONSENT", "opt-in", "TIKTOK_PIXEL_CONSENT 'opt-in' is not one of"),
    (
        "TIKTOK_PIXEL_CONSENT_COOKIE",
        "a b",
        "TIKTOK_PIXEL_CONSENT_COOKIE 'a b' is not a cookie name",
    ),
    ("TIKTOK_PIXEL_INTERNAL_IPS", 10, "TIKTOK_PIXEL_INTERNAL_IPS must be a list"),
    ("TIKTOK_PIXEL_INTERNAL_IPS", ["10.0.0.0/33"], "TIKTOK_PIXEL_INTERNAL_IPS entry '10.0.0.0/33'"),
    ("TIKTOK_PIXEL_STRICT", "true", "TIKTOK_PIXEL_STRICT must be True or False, not 'true'"),
    ("TIKTOK_PIXEL_DEBUG", 0, "TIKTOK_PIXEL_DEBUG must be True or False, not 0"),
    ("TIKTOK_PIXEL_MAPPINGS", 42, "TIKTOK_PIXEL_MAPPINGS must be None"),
    ("TIKTOK_PIXEL_MAPPINGS", "/nonexistent/m.toml", "/nonexistent/m.toml"),
    ("TIKTOK_PIXEL_PARTIAL", "on", "TIKTOK_PIXEL_PARTIAL must be True or False, not 'on'"),
    ("TIKTOK_PIXEL_LOAD", "lazy", "TIKTOK_PIXEL_LOAD 'lazy' is not one of 'async', 'idle'"),
    (
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE",
        0,
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE 0 must be a number of seconds above 0",
    ),
    ("TIKTOK_PIXEL_IDENTITY_MAX_AGE", True, "TIKTOK_PIXEL_IDENTITY_MAX_AGE True must be a number"),
    (
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE",
        float("nan"),
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE nan must be a number",
    ),
    ("TIKTOK_PIXEL_SERVER_EVENTS", "yes", "TIKTOK_PIXEL_SERVER_EVENTS 'yes' must be a bool"),
]
BAD_EVENTS_API: list[tuple[str, Any, str]] = [
    ("TIKTOK_PIXEL_ACCESS_TOKEN", "tt secret", "TIKTOK_PIXEL_ACCESS_TOKEN must be a string of printable"),
    ("TIKTOK_PIXEL_ACCESS_TOKEN", 12345, "TIKTOK_PIXEL_ACCESS_TOKEN must be a string of printable"),
    ("TIKTOK_PIXEL_TEST_EVENT_CODE", 7, "TIKTOK_PIXEL_TEST_EVENT_CODE 7 must be None or the code"),
    ("TIKTOK_PIXEL_EVENTS_API_URL", "http://example.com/", "TIKTOK_PIXEL_EVENTS_API_URL 'http://example.com/' is not an https URL"),
    ("TIKTOK_PIXEL_EVENTS_API_TIMEOUT", 0, "TIKTOK_PIXEL_EVENTS_API_TIMEOUT 0 must be a number of seconds above 0"),
    ("TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", 0, "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES 0 must be a whole number >= 1"),
    ("TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", 2.5, "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES 2.5 must be a whole number"),
    ("TIKTOK_PIXEL_EVENTS_API_BACKOFF", -1, "TIKTOK_PIXEL_EVENTS_API_BACKOFF -1 must be a number of seconds, 0 or more"),
    ("TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE", True, "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE True must be a whole number"),
    ("TIKTOK_PIXEL_EVENTS_QUEUE", 5, "TIKTOK_PIXEL_EVENTS_QUEUE 5 must be one of 'memory', 'sqlite:///PATH'"),
    ("TIKTOK_PIXEL_EVENTS_QUEUE", "redis", "TIKTOK_PIXEL_EVENTS_QUEUE 'redis' must be one of"),
    ("TIKTOK_PIXEL_EVENTS_QUEUE", "celery", "TIKTOK_PIXEL_EVENTS_QUEUE 'celery' needs TIKTOK_PIXEL_CELERY"),
    ("TIKTOK_PIXEL_EVENTS_QUEUE", "rq", "TIKTOK_PIXEL_EVENTS_QUEUE 'rq' needs TIKTOK_PIXEL_RQ_QUEUE"),
    ("TIKTOK_PIXEL_EVENTS_QUEUE_BYTES", 1.5, "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES 1.5 must be a whole number above 0"),
    ("TIKTOK_PIXEL_EVENTS_MAX_AGE", -5, "TIKTOK_PIXEL_EVENTS_MAX_AGE -5 must be a number of seconds above 0"),
    ("TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT", "5", "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT '5' must be a number of seconds above 0"),
    ("TIKTOK_PIXEL_EVENTS_DELIVERY", "cron", "TIKTOK_PIXEL_EVENTS_DELIVERY 'cron' must be 'thread' or 'worker'"),
]  # fmt: skip


# The task queues' objects are duck-typed: celery and rq are not imported to check them.
BAD_QUEUES: list[tuple[str, Any, str]] = [
    ("TIKTOK_PIXEL_CELERY", "myproj.celery_app", "TIKTOK_PIXEL_EVENTS_QUEUE 'celery' needs TIKTOK_PIXEL_CELERY, the Celery app"),
    ("TIKTOK_PIXEL_CELERY", True, "(the app itself, not its name), not True"),
    ("TIKTOK_PIXEL_RQ_QUEUE", "default", "TIKTOK_PIXEL_EVENTS_QUEUE 'rq' needs TIKTOK_PIXEL_RQ_QUEUE, an rq.Queue"),
    ("TIKTOK_PIXEL_RQ_QUEUE", object(), "(the queue itself, not its name), not <object object"),
]  # fmt: skip
QUEUE_OF = {"TIKTOK_PIXEL_CELERY": "celery", "TIKTOK_PIXEL_RQ_QUEUE": "rq"}


@pytest.mark.parametrize(("key", "value", "message"), BAD_QUEUES)
def test_a_task_queue_setting_must_be_the_queue_not_its_name(
    key: str, value: Any, message: str
) -> None:
    """Before: a string was accepted, then every event failed with an AttributeError (Celery,
    lost) or the app failed at start-up with a traceback from inside rq."""
    settings = {**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": QUEUE_OF[key], key: value}
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        PixelConfig.from_mapping(settings)


def test_a_real_celery_app_and_rq_queue_pass_without_being_imported_by_the_check() -> None:
    from celery import Celery
    from redis import Redis
    from rq import Queue

    celery_app = Celery("shop")
    config = PixelConfig.from_mapping(
        {**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "celery", "TIKTOK_PIXEL_CELERY": celery_app}
    )
    assert config.events_api is not None
    assert config.events_api.celery is celery_app
    queue = Queue("pixel", connection=Redis(port=1))  # no connection is made
    config = PixelConfig.from_mapping(
        {**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "rq", "TIKTOK_PIXEL_RQ_QUEUE": queue}
    )
    assert config.events_api is not None
    assert config.events_api.rq_queue is queue
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from pixel_embed.core.config import PixelConfig\n"
            "from pixel_embed import ConfigurationError\n"
            f"base = {ON!r}\n"
            "for queue, key in (('celery', 'TIKTOK_PIXEL_CELERY'), ('rq', 'TIKTOK_PIXEL_RQ_QUEUE')):\n"
            "    try:\n"
            "        PixelConfig.from_mapping({**base, 'TIKTOK_PIXEL_EVENTS_QUEUE': queue, key: 'x'})\n"
            "    except ConfigurationError:\n"
            "        pass\n"
            "print(sorted({'celery', 'rq', 'redis'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert checked.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "key",
    [
        "TIKTOK_PIXEL_EVENTS_API_TIMEOUT",
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF",
        "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT",
        "TIKTOK_PIXEL_EVENTS_MAX_AGE",
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE",
    ],
)
@pytest.mark.parametrize("value", [math.inf, 1e300, 10**400, -math.inf])
def test_seconds_must_be_finite_and_sane(key: str, value: float) -> None:
    """Before: inf or 1e300 passed, then every send failed with an OverflowError (the event
    lost; the outbox retried it forever), and 10**400 made a traceback at start-up."""
    with pytest.raises(ConfigurationError, match=f"{key} .* must be a number of seconds"):
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "memory", key: value})


@pytest.mark.parametrize(
    "key",
    [
        "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES",
        "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE",
        "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES",
    ],
)
def test_counts_have_a_ceiling(key: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{key} .* at most 2\\*\\*53"):
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "memory", key: 10**400})


def test_a_queue_path_with_a_nul_byte_is_refused_by_the_check() -> None:
    """Before: ValueError: embedded null byte, from deep inside the outbox."""
    with pytest.raises(ConfigurationError, match=r"TIKTOK_PIXEL_EVENTS_QUEUE .*NUL"):
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "sqlite:///o\x00.sqlite3"})


@pytest.mark.parametrize("code", [1234, True, 1.5, object(), {"a": 1}])
def test_a_code_that_is_no_string_is_a_configuration_error(code: object) -> None:
    """Before: TypeError: 'int' object is not iterable."""
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_CODE must be a pixel code"):
        PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": code})


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr boom")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq boom")

    __hash__ = object.__hash__


@pytest.mark.parametrize("key", sorted(DEFAULTS))
@pytest.mark.parametrize("value", [_BrokenRepr(), -(10**5000)], ids=["broken-repr", "5000-digits"])
def test_no_value_in_any_key_escapes_as_another_exception(key: str, value: object) -> None:
    settings = {**ON, "TIKTOK_PIXEL_EVENTS_QUEUE": "memory", key: value}
    if key in QUEUE_OF:
        settings["TIKTOK_PIXEL_EVENTS_QUEUE"] = QUEUE_OF[key]
    with pytest.raises(ConfigurationError) as raised:
        PixelConfig.from_mapping(settings)
    if key != "TIKTOK_PIXEL_ACCESS_TOKEN":
        assert key in str(raised.value)


@pytest.mark.parametrize("given", [None, ["TIKTOK_PIXEL_CODE"], "TIKTOK_PIXEL_CODE=x", 5])
def test_settings_that_are_no_mapping_say_so(given: object) -> None:
    with pytest.raises(ConfigurationError, match="settings must be a mapping"):
        PixelConfig.from_mapping(given)  # type: ignore[arg-type]


def test_a_message_is_bounded_and_masks_what_it_must_not_repeat() -> None:
    long = "A" * 2_000_000
    with pytest.raises(ConfigurationError) as raised:
        PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": long})
    message = str(raised.value)
    assert len(message) <= 1001
    assert message.startswith("TIKTOK_PIXEL_CODE")
    assert message.endswith("as shown in TikTok Events Manager")  # the problem is kept
    with pytest.raises(ConfigurationError) as raised:
        PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": "jane.doe@example.com"})
    assert "jane.doe" not in str(raised.value)
    assert "[email]" in str(raised.value)


def test_an_access_token_pasted_into_the_wrong_key_is_not_repeated() -> None:
    token = "0f3c9a8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"  # the shape of TikTok's tokens
    for key in ("TIKTOK_PIXEL_CODE", "TIKTOK_PIXEL_CONSENT", "TIKTOK_PIXEL_DEFAULT_REGION"):
        with pytest.raises(ConfigurationError) as raised:
            PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": CODE, key: token})
        assert key in str(raised.value)
        assert token[:12] not in str(raised.value), key
    # The configured token is withheld wherever it is quoted, whatever its shape.
    settings = {**ON, "TIKTOK_PIXEL_ACCESS_TOKEN": "short-tok", "TIKTOK_PIXEL_LOAD": "short-tok"}
    with pytest.raises(ConfigurationError) as raised:
        PixelConfig.from_mapping(settings)
    assert "short-tok" not in str(raised.value)
    assert "TIKTOK_PIXEL_LOAD '[access token]' is not one of" in str(raised.value)
    # The Events API's settings alone (as events_api.hooks reads them): the same screen.
    settings = {
        **ON,
        "TIKTOK_PIXEL_ACCESS_TOKEN": "short-tok",
        "TIKTOK_PIXEL_EVENTS_QUEUE": "short-tok",
    }
    with pytest.raises(ConfigurationError) as raised:
        EventsApiConfig.from_mapping(settings)
    assert "short-tok" not in str(raised.value)
    assert "TIKTOK_PIXEL_EVENTS_QUEUE '[access token]' must be one of" in str(raised.value)


def test_a_region_must_have_phone_numbers() -> None:
    """Before: only its shape was checked, and every phone number without a country code was
    then dropped at runtime."""
    with pytest.raises(ConfigurationError, match=r"'UK' is not a region .*did you mean 'GB'"):
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_DEFAULT_REGION": "UK"})
    with pytest.raises(ConfigurationError, match="'ZZ' is not a region with phone numbers"):
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_DEFAULT_REGION": "zz"})
    assert PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_DEFAULT_REGION": "gb"}).region == "GB"


def test_an_unknown_setting_warns_with_the_one_meant() -> None:
    """Before: TIKTOK_PIXEL_CONSNET = "strict" was ignored and consent stayed off."""
    with pytest.warns(
        UserWarning,
        match="TIKTOK_PIXEL_CONSNET is not a pixel_embed setting: did you mean TIKTOK_PIXEL_CONSENT",
    ):
        config = PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_CONSNET": "strict"})
    assert config.pixel is not None
    assert config.pixel.consent == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        not_ours: dict[Any, Any] = {**ON, "OTHER_SETTING": 1, 5: "x"}
        PixelConfig.from_mapping(not_ours)  # no warning
        # A framework's own setting, which its integration reads itself (Django's consent
        # state), is named by that integration.
        django = {**ON, "TIKTOK_PIXEL_CONSENT_STATE": "shop.consent.choice"}
        PixelConfig.from_mapping(django, integration_keys=["TIKTOK_PIXEL_CONSENT_STATE"])


# What settings read from the environment (os.environ, django-environ, a .env file) look like
# when nobody converted them: every one a string.
_FROM_THE_ENVIRONMENT = [
    "True", "false", "0", "1", "5", "5.0", "5s", "", "None", "null", "[]", "US", "uk", " GB",
    "+44", "10.0.0.0/8, 192.168.0.0/16", "sqlite:///events.sqlite3", "redis://localhost:6379/0",
    "myproj.celery:app", CODE, f"{CODE},{CODE}", "https://business-api.tiktok.com/open_api/v1.3/event/track/",
    "jane.doe@example.com", "0f3c9a8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a", "inf", "1e309",
]  # fmt: skip
_ANY_VALUE = st.recursive(
    st.none()
    | st.sampled_from(_FROM_THE_ENVIRONMENT)
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**4000), max_value=10**4000)  # 5000 digits: tested above
    | st.floats()
    | st.text()
    | st.binary()
    | st.sampled_from([CODE, "memory", "celery", "rq", "sqlite:///x\x00", "UK"])
    | st.builds(_BrokenRepr)
    | st.complex_numbers()
    | st.decimals(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from([*DEFAULTS, "TIKTOK_PIXEL_CONSNET"]), _ANY_VALUE, max_size=4
    ),
    token=st.booleans(),
)
def test_any_value_in_any_key_gives_a_config_or_a_configuration_error(
    changes: dict[str, Any], token: bool
) -> None:
    base = dict(ON) if token else {"TIKTOK_PIXEL_CODE": CODE}
    base["TIKTOK_PIXEL_EVENTS_QUEUE"] = "memory"  # no outbox file in the working directory
    message = ""
    try:
        PixelConfig.from_mapping({**base, **changes})
    except ConfigurationError as error:
        message = str(error)
        assert "TIKTOK_PIXEL_" in message  # it names the key
    assert len(message) <= 1001
    assert "jane.doe@example.com" not in message
    assert "0f3c9a8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a" not in message


@pytest.mark.parametrize(("key", "value", "message"), BAD_PAGE + BAD_EVENTS_API)
def test_a_bad_value_names_its_key_and_its_problem(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        PixelConfig.from_mapping({**ON, key: value})
    assert key in str(raised.value)


def test_every_key_is_checked() -> None:
    checked = {key for key, _, _ in BAD_PAGE + BAD_EVENTS_API + BAD_QUEUES}
    assert set(DEFAULTS) - checked == set()


def test_the_token_is_never_repeated_in_its_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        PixelConfig.from_mapping({**ON, "TIKTOK_PIXEL_ACCESS_TOKEN": "secret value 42"})
    assert "secret value 42" not in str(raised.value)


def test_the_worker_delivery_needs_the_outbox() -> None:
    with pytest.raises(ConfigurationError, match="'worker' delivers from the sqlite outbox"):
        PixelConfig.from_mapping(
            {**ON, "TIKTOK_PIXEL_EVENTS_DELIVERY": "worker", "TIKTOK_PIXEL_EVENTS_QUEUE": "memory"}
        )


def test_the_page_settings_wait_while_the_pixel_is_off() -> None:
    config = PixelConfig.from_mapping(
        {"TIKTOK_PIXEL_ENABLED": False, "TIKTOK_PIXEL_CODE": None, "TIKTOK_PIXEL_LDU": "yes"}
    )
    assert config.pixel is None


def test_the_events_api_settings_wait_for_a_token() -> None:
    """Without a token none of them is read: a site may keep a test URL in its config."""
    config = PixelConfig.from_mapping(
        {"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_EVENTS_API_URL": "http://example.com/"}
    )
    assert config.events_api is None


def test_lenient_mode_logs_and_strict_mode_raises(caplog: pytest.LogCaptureFixture) -> None:
    from pixel_embed import InvalidEvent

    error = InvalidEvent("value", "x", "must be a number")
    PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": CODE}).on_error(error)
    assert "TikTok pixel: dropped value" in caplog.text
    strict = PixelConfig.from_mapping({"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_STRICT": True})
    with pytest.raises(InvalidEvent):
        strict.on_error(error)


def test_the_defaults_are_read_only_and_no_site_shares_anothers_list() -> None:
    from pixel_embed import TikTokPixel

    with pytest.raises(TypeError):
        DEFAULTS["TIKTOK_PIXEL_CODE"] = CODE  # type: ignore[index]
    first, second = make_app(), make_app()
    TikTokPixel(first)
    TikTokPixel(second)
    first.config["TIKTOK_PIXEL_INTERNAL_IPS"].append("10.0.0.1")
    assert second.config["TIKTOK_PIXEL_INTERNAL_IPS"] == []
    assert DEFAULTS["TIKTOK_PIXEL_INTERNAL_IPS"] == []


def _open_outbox(framework: str, path: str) -> str:
    """The message of the error that opening the outbox at ``path`` raises at start-up."""
    settings = {
        **ON,
        "TIKTOK_PIXEL_SERVER_EVENTS": True,
        "TIKTOK_PIXEL_EVENTS_QUEUE": f"sqlite:///{path}",
    }
    from pixel_embed import TikTokPixel
    from pixel_embed.integrations.starlette import TikTokPixel as StarlettePixel

    def start() -> object:
        if framework == "flask":
            return TikTokPixel(make_app(**settings))
        return StarlettePixel(settings)

    with pytest.raises(ConfigurationError) as raised:
        start()
    return str(raised.value)


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_an_outbox_that_cannot_be_opened_is_quoted_in_part_and_masked(
    framework: str, tmp_path: Any
) -> None:
    """Before: the path was quoted whole, twice (in the message and in the OSError's own
    text): a 5000-character path gave a 10,129-character message, an address unmasked."""
    message = _open_outbox(framework, str(tmp_path / ("a" * 5000)))
    assert message.startswith("TIKTOK_PIXEL_EVENTS_QUEUE: cannot open the outbox")
    assert len(message) <= 300
    (tmp_path / "jane@example.com").write_text("a file, not a folder")
    message = _open_outbox(framework, str(tmp_path / "jane@example.com" / "events.sqlite3"))
    assert message.startswith("TIKTOK_PIXEL_EVENTS_QUEUE: cannot open the outbox")
    assert "jane@" not in message
    assert "[email]" in message
