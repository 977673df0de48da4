"""Every rule, in the order its findings are listed, and :func:`find_problems`, which runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from ..redact import mask_text
from .calls import (
    amounts,
    cart_without_value,
    content_id_numbers,
    content_ids,
    content_type,
    currency,
    double_purchase,
    duplicate_event_ids,
    event_id_missing,
    event_names,
    ignored_parameters,
    purchase_value,
    unit_price_value,
)
from .consent import consent_detected, consent_order
from .evidence import SEVERITIES, Evidence, Finding
from .identity import identify_after_page, identify_ip_ua, junk_identity
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
    repeated_page_views,
    sdk_never_requested,
)
from .pii import empty_identity_fields, identify_shape, pii_in_url, raw_pii
from .scope import private_network, truncated
from .secrets import access_token
from .steps import step_results

Rule = Callable[[Evidence], Iterator[Finding]]

#: Every rule, in the order their findings are listed within one severity.
RULES: tuple[Rule, ...] = (
    pixel_js_errors,
    step_results,
    sdk_never_requested,
    pixel_ids,
    access_token,
    raw_pii,
    pii_in_url,
    junk_identity,
    identify_ip_ua,
    identify_shape,
    identify_after_page,
    currency,
    amounts,
    content_ids,
    purchase_value,
    double_purchase,
    content_id_numbers,
    cart_without_value,
    unit_price_value,
    duplicate_event_ids,
    double_load,
    consent_order,
    csp_blocks,
    event_names,
    content_type,
    page_view,
    repeated_page_views,
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
