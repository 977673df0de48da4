"""Every rule, in the order its findings are listed, and :func:`find_problems`, which runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from ..redact import mask_text
from .calls import (
    amounts,
    content_ids,
    content_type,
    currency,
    double_purchase,
    duplicate_event_ids,
    event_id_missing,
    event_names,
    ignored_parameters,
    purchase_value,
)
from .consent import consent_detected, consent_order
from .evidence import SEVERITIES, Evidence, Finding
from .loading import (
    blocked_requests,
    csp_blocks,
    double_load,
    limited_data_use,
    old_sdk,
    page_view,
    pixel_ids,
    pixel_js_errors,
    pixel_present,
    sdk_never_requested,
)
from .pii import empty_identity_fields, identify_shape, raw_pii
from .scope import private_network, truncated

Rule = Callable[[Evidence], Iterator[Finding]]

#: Every rule, in the order their findings are listed within one severity.
RULES: tuple[Rule, ...] = (
    pixel_js_errors,
    sdk_never_requested,
    pixel_ids,
    raw_pii,
    identify_shape,
    currency,
    amounts,
    content_ids,
    purchase_value,
    double_purchase,
    duplicate_event_ids,
    double_load,
    consent_order,
    csp_blocks,
    event_names,
    content_type,
    page_view,
    private_network,
    ignored_parameters,
    event_id_missing,
    old_sdk,
    pixel_present,
    empty_identity_fields,
    limited_data_use,
    consent_detected,
    blocked_requests,
    truncated,
)


def find_problems(evidence: Evidence, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every finding of ``rules`` on ``evidence``: errors first, then warnings, then remarks;
    e-mail addresses and phone numbers quoted in a message are masked."""
    # A message quotes the page (values, error messages): personal data in it is masked.
    findings = [replace(f, message=mask_text(f.message)) for rule in rules for f in rule(evidence)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
