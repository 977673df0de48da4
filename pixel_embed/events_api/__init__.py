"""Server-side Events API: the browser's events sent from the server too, deduplicated by
their shared ``event_id``."""

from ..events import WIRE_EVENT_NAMES as WIRE_EVENT_NAMES
from ..events import wire_event_name as wire_event_name
from .clickid import TTCLID_COOKIE as TTCLID_COOKIE
from .clickid import request_ttclid as request_ttclid
from .client import EVENTS_API_URL as EVENTS_API_URL
from .client import DeliveryError as DeliveryError
from .client import EventsApiClient as EventsApiClient
from .delivery import DURABLE_RETRIES as DURABLE_RETRIES
from .delivery import BackgroundSender as BackgroundSender
from .delivery import RetryPolicy as RetryPolicy
from .delivery import Sender as Sender
from .delivery import deliver as deliver
from .hooks import ServerEvents as ServerEvents
from .hooks import client_from_config as client_from_config
from .hooks import consent_allows as consent_allows
from .outbox import DeliveryStats as DeliveryStats
from .outbox import Outbox as Outbox
from .outbox_sender import OutboxSender as OutboxSender
from .payload import RequestContext as RequestContext
from .payload import request_body as request_body
from .payload import server_event as server_event
from .quality import QualityReport as QualityReport
from .quality import match_quality as match_quality
from .queues import delivery_stats as delivery_stats
from .send import send_event as send_event
from .sources import Destination as Destination

__all__ = [
    "DURABLE_RETRIES",
    "EVENTS_API_URL",
    "TTCLID_COOKIE",
    "WIRE_EVENT_NAMES",
    "BackgroundSender",
    "DeliveryError",
    "DeliveryStats",
    "Destination",
    "EventsApiClient",
    "Outbox",
    "OutboxSender",
    "QualityReport",
    "RequestContext",
    "RetryPolicy",
    "Sender",
    "ServerEvents",
    "client_from_config",
    "consent_allows",
    "deliver",
    "delivery_stats",
    "match_quality",
    "request_body",
    "request_ttclid",
    "send_event",
    "server_event",
    "wire_event_name",
]
