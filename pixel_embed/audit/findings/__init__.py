"""What an audit saw on a site, and the rules that turn it into findings.

Each rule is a small pure function from the :class:`Evidence` (the recorded ``ttq`` calls and the
facts of each page load) to :class:`Finding` objects. Nothing here drives a browser: the runner
gathers the evidence, and tests can build it by hand.

The evidence and findings are in :mod:`.evidence`; the rules, by what they look at, in
:mod:`.calls` (each ``ttq.track``), :mod:`.loading` (base code, SDK, pixel ids, CSP, script
errors), :mod:`.consent` and :mod:`.pii`; :mod:`.rules` lists them all and runs them.
"""

from .calls import KNOWN_ITEM_FIELDS as KNOWN_ITEM_FIELDS
from .calls import KNOWN_PARAMETERS as KNOWN_PARAMETERS
from .calls import LEGACY_EVENTS as LEGACY_EVENTS
from .calls import amounts as amounts
from .calls import content_ids as content_ids
from .calls import content_type as content_type
from .calls import currency as currency
from .calls import double_purchase as double_purchase
from .calls import duplicate_event_ids as duplicate_event_ids
from .calls import event_id_missing as event_id_missing
from .calls import event_names as event_names
from .calls import ignored_parameters as ignored_parameters
from .calls import purchase_value as purchase_value
from .consent import SENDING_METHODS as SENDING_METHODS
from .consent import consent_detected as consent_detected
from .consent import consent_order as consent_order
from .evidence import SEVERITIES as SEVERITIES
from .evidence import ConsentMode as ConsentMode
from .evidence import CspViolation as CspViolation
from .evidence import Evidence as Evidence
from .evidence import Finding as Finding
from .evidence import PageFacts as PageFacts
from .evidence import ScriptError as ScriptError
from .evidence import Severity as Severity
from .evidence import StepReport as StepReport
from .evidence import Truncation as Truncation
from .loading import PIXEL_ID as PIXEL_ID
from .loading import blocked_requests as blocked_requests
from .loading import csp_blocks as csp_blocks
from .loading import double_load as double_load
from .loading import limited_data_use as limited_data_use
from .loading import old_sdk as old_sdk
from .loading import page_view as page_view
from .loading import pixel_ids as pixel_ids
from .loading import pixel_js_errors as pixel_js_errors
from .loading import pixel_present as pixel_present
from .loading import sdk_never_requested as sdk_never_requested
from .pii import empty_identity_fields as empty_identity_fields
from .pii import identify_shape as identify_shape
from .pii import raw_pii as raw_pii
from .rules import RULES as RULES
from .rules import Rule as Rule
from .rules import find_problems as find_problems

__all__ = [
    "KNOWN_ITEM_FIELDS",
    "KNOWN_PARAMETERS",
    "LEGACY_EVENTS",
    "PIXEL_ID",
    "RULES",
    "SENDING_METHODS",
    "SEVERITIES",
    "ConsentMode",
    "CspViolation",
    "Evidence",
    "Finding",
    "PageFacts",
    "Rule",
    "ScriptError",
    "Severity",
    "StepReport",
    "Truncation",
    "amounts",
    "blocked_requests",
    "consent_detected",
    "consent_order",
    "content_ids",
    "content_type",
    "csp_blocks",
    "currency",
    "double_load",
    "double_purchase",
    "duplicate_event_ids",
    "empty_identity_fields",
    "event_id_missing",
    "event_names",
    "find_problems",
    "identify_shape",
    "ignored_parameters",
    "limited_data_use",
    "old_sdk",
    "page_view",
    "pixel_ids",
    "pixel_js_errors",
    "pixel_present",
    "purchase_value",
    "raw_pii",
    "sdk_never_requested",
]
