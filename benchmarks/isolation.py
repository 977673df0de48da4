"""Isolation under load: many signed-in customers shop at once, and no page shows one customer's
data to another, loses a deferred event, or fires one twice.

The demo shop runs in its own process (:func:`benchmarks.shop.shop_server`) on a threaded
Werkzeug server on 127.0.0.1 (HTTP/1.1 keep-alive, a thread per connection), once with the
pixel and once with ``TIKTOK_PIXEL_ENABLED=False``. Each simulated customer is a thread with its
own connection and cookie jar: it signs up (name, e-mail and phone of its own), then shops in a
loop, each round a whole journey of POST → redirect → page flows::

    home, product (ViewContent), search (Search), add to cart → cart (AddToCart, deferred),
    checkout (InitiateCheckout), payment method → review (AddPaymentInfo, deferred),
    place order → order (PlaceAnOrder, deferred), pay → order (CompletePayment, deferred),
    pay again → order (nothing: the sale counts once), account

Every page of the run with the pixel is checked:

- **leaks**: its ``ttq.identify`` is not exactly this customer's hashes (``hash_email``,
  ``hash_phone``, ``hash_external_id`` of the customer number); any SHA-256 digest, customer
  token (name, e-mail, search) or order number on it that is not this customer's; any event this
  customer never caused;
- **lost**: an expected event (the page's own, or the deferred one of the form just sent) or the
  identity is missing;
- **duplicated**: an event shows more than once, or an event id seen on an earlier page comes
  back (each CompletePayment's ``order_event_id`` must show exactly once in all of a customer's
  pages).

Loops are bounded (a request budget per customer), only 127.0.0.1 is used, and the server
process stops by itself when the run ends or after :data:`SERVER_LIFETIME` seconds at most.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode, urlsplit

from pixel_embed import hash_email, hash_external_id, hash_phone, order_event_id

from .shop import SERVER_LIFETIME, shop_server


def _payment_id(order: str) -> str:
    """The ``event_id`` the demo's payment gets: the order's, as the webhook derives it too."""
    return order_event_id("CompletePayment", order)


TIMEOUT = 60.0
PRODUCTS = ("black-tee", "white-tee", "grey-hoodie", "enamel-mug", "stoneware-mug", "canvas-tote")
_CALL = re.compile(r"^\s*(?:ttq|q)\.(identify|track)\((.*)\);$", re.MULTILINE)
_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")
_TOKEN = re.compile(r"bench\d{3}")
_ORDER = re.compile(r"\bPX-[0-9A-F]{8}\b")
_CUSTOMER_ID = re.compile(r'data-testid="customer-id">([^<]+)<')


# -- one customer's browser --------------------------------------------------------------------


@dataclass
class Response:
    method: str
    path: str
    status: int
    location: str
    cache_control: str
    body: str


class Visitor:
    """A customer's browser: one keep-alive connection and a cookie jar of its own."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = CookieJar()
        self.requests = 0
        self.reconnects = 0
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT)

    def request(self, method: str, path: str, form: Mapping[str, str] | None = None) -> Response:
        body = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        self.jar.add_cookie_header(request)
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body, dict(request.header_items()))
                answer = self._connection.getresponse()
                data = answer.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server may close a kept-alive connection between two requests.
                self._connection.close()
                self._connection = self._connect()
                self.reconnects += 1
                if attempt == 2:
                    raise
        self.jar.extract_cookies(answer, request)
        self.requests += 1
        return Response(
            method,
            path,
            answer.status,
            answer.getheader("Location", ""),
            answer.getheader("Cache-Control", ""),
            data.decode("utf-8"),
        )

    def close(self) -> None:
        self._connection.close()


# -- what a customer expects, and what the pages showed ----------------------------------------


@dataclass
class Customer:
    number: int
    token: str
    email: str
    phone: str
    customer_id: str = ""
    hashes: dict[str, str] = field(default_factory=dict)
    paid_orders: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, number: int) -> Customer:
        token = f"bench{number:03d}"
        # Typed as people type them; the pixel hashes the normalised forms.
        email = f"{token.capitalize()}@Example.com"
        phone = f"(213) 373-{4000 + number:04d}"
        customer = cls(number, token, email, phone)
        customer.hashes = {"email": hash_email(email), "phone_number": hash_phone(phone, "US")}
        return customer


@dataclass
class Findings:
    """Everything the checks found, over every page of every customer."""

    pages: int = 0
    leaks: int = 0
    lost: int = 0
    duplicated: int = 0
    errors: int = 0
    cacheable_personal_pages: int = 0
    problems: list[str] = field(default_factory=list)
    #: order number → customer token, from the redirect after "Place order".
    order_owner: dict[str, str] = field(default_factory=dict)
    #: (customer token, order number seen on one of its pages).
    orders_seen: list[tuple[str, str, str]] = field(default_factory=list)
    payment_ids: Counter[tuple[str, str]] = field(default_factory=Counter)
    purchases: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def problem(self, kind: str, customer: Customer, response: Response, what: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if len(self.problems) < 20:
                self.problems.append(f"{kind}: {customer.token} {response.path}: {what}")


class Shopper:
    """One customer shopping in a loop, checking each page it is shown."""

    def __init__(
        self, customer: Customer, base_url: str, findings: Findings, *, pixel: bool
    ) -> None:
        self.customer = customer
        self.visitor = Visitor(base_url)
        self.findings = findings
        self.pixel = pixel
        self.event_ids: set[str] = set()
        self.failure: Exception | None = None

    # -- requests with their expectations ------------------------------------------------------

    def page(self, path: str, expect: Mapping[str, Mapping[str, str]] | None = None) -> Response:
        """GET a page and check it; ``expect``: event → params it must carry (at least)."""
        response = self.visitor.request("GET", path)
        self._check(response, expect or {})
        return response

    def submit(
        self,
        path: str,
        form: Mapping[str, str],
        lands_on: str,
        expect: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Response:
        """POST a form, follow its redirect (which must lead to ``lands_on``…) and check the
        page it lands on: it must carry the form's deferred event, once."""
        response = self.visitor.request("POST", path, form)
        target = urlsplit(response.location).path
        if response.status != 302 or not target.startswith(lands_on):
            self.findings.problem(
                "errors", self.customer, response, f"{response.status} → {response.location!r}"
            )
            return response
        landed = self.visitor.request("GET", target)
        self._check(landed, expect or {})
        return landed

    # -- the checks ----------------------------------------------------------------------------

    def _check(self, response: Response, expect: Mapping[str, Mapping[str, str]]) -> None:
        findings, customer = self.findings, self.customer
        with findings.lock:
            findings.pages += 1
        if response.status != 200:
            findings.problem("errors", customer, response, f"status {response.status}")
            return
        body = response.body
        for token in set(_TOKEN.findall(body)) - {customer.token}:
            findings.problem("leaks", customer, response, f"another customer's {token}")
        with findings.lock:
            findings.orders_seen.extend(
                (customer.token, order, response.path) for order in set(_ORDER.findall(body))
            )
        if not self.pixel:
            # (Not a bare "ttq": the page's random CSP nonce may hold those letters.)
            if _CALL.search(body) or "TiktokAnalyticsObject" in body or _SHA256.search(body):
                findings.problem("leaks", customer, response, "pixel output with the pixel off")
            return
        own = set(customer.hashes.values())
        for digest in set(_SHA256.findall(body)) - own:
            findings.problem("leaks", customer, response, f"a digest not its own: {digest[:12]}…")
        calls = [(method, json.loads(f"[{args}]")) for method, args in _CALL.findall(body)]
        identities = [args[0] for method, args in calls if method == "identify"]
        if not identities:
            findings.problem("lost", customer, response, "no ttq.identify")
        elif identities != [customer.hashes]:
            findings.problem("leaks", customer, response, f"identify {identities}")
        if identities and "private" not in response.cache_control:
            with findings.lock:
                findings.cacheable_personal_pages += 1
        tracked = [args for method, args in calls if method == "track"]
        self._check_events(response, tracked, expect)

    def _check_events(
        self,
        response: Response,
        tracked: list[list[Any]],
        expect: Mapping[str, Mapping[str, str]],
    ) -> None:
        findings, customer = self.findings, self.customer
        seen = Counter(event for event, *_ in tracked)
        for event in expect:
            if seen[event] == 0:
                findings.problem("lost", customer, response, f"{event} did not fire")
            elif seen[event] > 1:
                findings.problem("duplicated", customer, response, f"{event} x{seen[event]}")
        for event, params, options in tracked:
            event_id = str(options.get("event_id"))
            if event == "CompletePayment":
                with findings.lock:
                    findings.payment_ids[(customer.token, event_id)] += 1
            if event_id in self.event_ids:
                findings.problem("duplicated", customer, response, f"{event} {event_id} again")
            elif event not in expect:
                findings.problem("leaks", customer, response, f"{event} it never caused")
            elif any(
                (options if key == "event_id" else params).get(key) != value
                for key, value in expect[event].items()
            ):
                findings.problem("leaks", customer, response, f"{event} with {params}")
            self.event_ids.add(event_id)

    # -- the shopping ------------------------------------------------------------------------

    def sign_up(self) -> None:
        customer = self.customer
        form = {
            "name": f"Customer {customer.token}",
            "email": customer.email,
            "phone": customer.phone,
            "password": f"password-{customer.token}",
        }
        response = self.visitor.request("POST", "/signup", form)
        if response.status != 302:
            raise RuntimeError(f"sign-up of {customer.token} answered {response.status}")
        account = self.visitor.request("GET", urlsplit(response.location).path)
        found = _CUSTOMER_ID.search(account.body)
        if found is None:
            raise RuntimeError(f"{customer.token}'s account page shows no customer number")
        customer.customer_id = found.group(1)
        customer.hashes["external_id"] = hash_external_id(customer.customer_id)
        self._check(account, {"CompleteRegistration": {}})

    def journey(self, turn: int) -> None:
        """One whole visit, from the home page to a paid order."""
        slug = PRODUCTS[(self.customer.number + turn) % len(PRODUCTS)]
        self.page("/")
        self.page(f"/product/{slug}", {"ViewContent": {}})
        query = f"{self.customer.token} {slug.split('-')[-1]}"
        self.page(f"/search?{urlencode({'q': query})}", {"Search": {"query": query}})
        self.submit("/cart/add", {"product": slug, "quantity": "1"}, "/cart", {"AddToCart": {}})
        self.page("/checkout", {"InitiateCheckout": {}})
        self.submit(
            "/checkout/payment",
            {"payment_method": "card"},
            "/checkout/review",
            {"AddPaymentInfo": {}},
        )
        placed = self.visitor.request("POST", "/checkout/place", {})
        order = urlsplit(placed.location).path.rsplit("/", 1)[-1]
        if placed.status != 302 or not _ORDER.fullmatch(order):
            self.findings.problem("errors", self.customer, placed, f"placed → {placed.location}")
            return
        with self.findings.lock:
            self.findings.order_owner[order] = self.customer.token
        self._check(
            self.visitor.request("GET", f"/orders/{order}"),
            {"PlaceAnOrder": {"order_id": order}},
        )
        self.submit(
            f"/orders/{order}/pay",
            {},
            f"/orders/{order}",
            {"CompletePayment": {"order_id": order, "event_id": _payment_id(order)}},
        )
        self.customer.paid_orders.append(order)
        with self.findings.lock:
            self.findings.purchases += 1
        self.submit(f"/orders/{order}/pay", {}, f"/orders/{order}")  # a second submit
        self.page("/account")

    def shop(self, budget: int, start: threading.Barrier) -> None:
        """Shop whole journeys until ``budget`` more requests have been made."""
        start.wait()
        stop_at = self.visitor.requests + budget
        turn = 0
        try:
            while self.visitor.requests < stop_at:
                self.journey(turn)
                turn += 1
        except Exception as exc:  # reported by the run, after every thread has stopped
            self.failure = exc


# -- the run -----------------------------------------------------------------------------------


@dataclass
class LoadReport:
    users: int
    requests: int
    seconds: float
    findings: Findings

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("nan")


def _final_checks(findings: Findings, shoppers: list[Shopper]) -> None:
    """Checks that need every page: whose orders showed where; each sale fired once."""
    for token, order, path in findings.orders_seen:
        owner = findings.order_owner.get(order)
        if owner != token:
            findings.leaks += 1
            findings.problems.append(f"leaks: {token} {path}: order {order} of {owner}")
    for shopper in shoppers:
        if not shopper.pixel:
            continue
        for order in shopper.customer.paid_orders:
            fired = findings.payment_ids[(shopper.customer.token, _payment_id(order))]
            if fired == 0:
                findings.lost += 1
            elif fired > 1:
                findings.duplicated += fired - 1


def _run_phase(shoppers: list[Shopper], budget: int) -> float:
    """Every shopper shops ``budget`` requests at once; the wall-clock seconds it took."""
    start = threading.Barrier(len(shoppers) + 1)
    threads = [
        threading.Thread(target=s.shop, args=(budget, start), name=f"shopper-{s.customer.token}")
        for s in shoppers
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=SERVER_LIFETIME)
    seconds = time.perf_counter() - began
    failures = [s.failure for s in shoppers if s.failure is not None]
    if failures or any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"{len(failures)} shopper(s) failed: {failures[:1]!r}")
    return seconds


def load_test(
    *, users: int = 50, requests_per_user: int = 200, rounds: int = 2
) -> tuple[LoadReport, LoadReport]:
    """Run the journeys against the shop with the pixel and without it, ``rounds`` times each,
    in turns (so both feel the machine's load alike).

    :returns: the reports with the pixel (every page checked) and without it.
    """
    with (
        shop_server({"TIKTOK_PIXEL_ENABLED": True, "DEMO_SEED_CUSTOMER": False}) as with_url,
        shop_server({"TIKTOK_PIXEL_ENABLED": False, "DEMO_SEED_CUSTOMER": False}) as without_url,
    ):
        reports = {}
        shoppers = {}
        for pixel, url in ((True, with_url), (False, without_url)):
            findings = Findings()
            shoppers[pixel] = [
                Shopper(Customer.make(n), url, findings, pixel=pixel) for n in range(users)
            ]
            for shopper in shoppers[pixel]:
                shopper.sign_up()
            reports[pixel] = LoadReport(users, 0, 0.0, findings)
        budget = max(1, requests_per_user // rounds)
        for turn in range(rounds):
            for pixel in (False, True) if turn % 2 == 0 else (True, False):
                before = sum(s.visitor.requests for s in shoppers[pixel])
                reports[pixel].seconds += _run_phase(shoppers[pixel], budget)
                after = sum(s.visitor.requests for s in shoppers[pixel])
                reports[pixel].requests += after - before
        for pixel, group in shoppers.items():
            _final_checks(reports[pixel].findings, group)
            for shopper in group:
                shopper.visitor.close()
    return reports[True], reports[False]


def run(
    *, quick: bool = False, users: int | None = None, requests_per_user: int | None = None
) -> dict[str, float]:
    """The load test's figures: leaks, lost and duplicated events (all 0), requests per second
    with the pixel and without."""
    users = users or (10 if quick else 50)
    requests_per_user = requests_per_user or (40 if quick else 200)
    with_pixel, without = load_test(users=users, requests_per_user=requests_per_user)
    findings = with_pixel.findings
    for problem in findings.problems + without.findings.problems:
        print(f"  isolation: {problem}")
    return {
        "load_users": with_pixel.users,
        "load_requests": with_pixel.requests,
        "load_pages_checked": findings.pages,
        "leaks": findings.leaks + without.findings.leaks,
        "lost": findings.lost,
        "duplicated": findings.duplicated,
        "load_errors": findings.errors + without.findings.errors,
        "cacheable_personal_pages": findings.cacheable_personal_pages,
        "purchases": findings.purchases,
        "rps_with": with_pixel.rps,
        "rps_without": without.rps,
        "rps_ratio": with_pixel.rps / without.rps,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:26} {value:10.1f}")
