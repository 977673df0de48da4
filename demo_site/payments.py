"""A fake payment provider that works as Stripe, Adyen or PayPal do: the visitor pays, and the
provider confirms the payment to the shop's webhook, server to server, signed, a moment later
(and again if the shop did not answer), without the visitor's browser, cookies or address."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger("demo_site.payments")

#: The header the provider signs its webhook calls with (HMAC-SHA256 of the body, hex).
SIGNATURE_HEADER = "X-Demo-Signature"
#: The largest webhook body the shop reads.
MAX_BODY = 4096


def sign(secret: str, body: bytes) -> str:
    """The signature of a webhook body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeProvider:
    """Charges orders and confirms them to the shop's webhook from a thread.

    :param secret: shared with the shop, to sign the webhook calls.
    :param delay: seconds between the charge and the webhook call (and between retries).
    :param tries: webhook calls at most, until the shop answers 2xx.
    """

    def __init__(self, secret: str, *, delay: float = 0.05, tries: int = 3) -> None:
        self.secret = secret
        self.delay = delay
        self.tries = tries
        #: Order ids whose webhook the shop answered with 2xx.
        self.confirmed: list[str] = []

    def charge(
        self, order_id: str, amount_cents: int, currency: str, webhook_url: str
    ) -> threading.Thread:
        """Take the payment; the webhook call follows from a thread, which is returned."""
        body = json.dumps(
            {
                "type": "payment.succeeded",
                "order_id": order_id,
                "amount": amount_cents,
                "currency": currency,
            }
        ).encode()
        thread = threading.Thread(
            target=self._notify, args=(order_id, webhook_url, body), daemon=True
        )
        thread.start()
        return thread

    def _notify(self, order_id: str, url: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            "User-Agent": "demo-payment-provider/1.0",
        }
        for attempt in range(1, self.tries + 1):
            time.sleep(self.delay * attempt)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if 200 <= answer.status < 300:
                        self.confirmed.append(order_id)
                        return
            except (urllib.error.URLError, OSError) as exc:
                log.warning("payment webhook for %s failed (try %d): %s", order_id, attempt, exc)
        log.error("payment webhook for %s gave up after %d tries", order_id, self.tries)
