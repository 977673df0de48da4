"""The shop's pages, and the TikTok Pixel event each one fires (``request.tiktok_pixel``).

Pages that answer a GET track on the page itself; form posts track with ``defer=True`` and
redirect, so the event fires once, on the page the visitor lands on (or, posted by htmx, with
the htmx response).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from pixel_embed.integrations.django import TikTokPixelRequest

from .catalogue import CURRENCY, PRODUCTS, Item

#: The demo's customers' phone numbers (Django's user model has no such field).
PHONES = {"jane": "+12133734253", "sam": "+14155550123"}
_CART = "cart"


@dataclass(frozen=True)
class Order:
    id: str
    lines: tuple[tuple[Item, int], ...]

    @property
    def total(self) -> float:
        return sum(product.cents * quantity for product, quantity in self.lines) / 100

    def pixel_params(self) -> dict[str, Any]:
        return {
            "contents": [product.content(quantity) for product, quantity in self.lines],
            "value": self.total,
            "currency": CURRENCY,
        }


_orders: dict[str, Order] = {}
_numbers = itertools.count(1001)
_lock = threading.Lock()


class IdentifyCustomerMiddleware:
    """While a customer is signed in, every page identifies them (hashed on the server):
    nothing to carry across a redirect, so ``defer=False``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: TikTokPixelRequest) -> HttpResponseBase:
        user = request.user
        if isinstance(user, User):
            request.tiktok_pixel.identify(
                email=user.email,
                phone_number=PHONES.get(user.get_username()),
                external_id=user.pk,
                defer=False,
            )
        return self.get_response(request)


def shop_context(request: TikTokPixelRequest) -> dict[str, Any]:
    """What every page's layout shows: the cart's size and the consent banner."""
    return {
        "cart_size": sum(_cart(request).values()),
        "consent_mode": settings.TIKTOK_PIXEL_CONSENT,
        "consent_choice": request.tiktok_pixel.consent,
    }


def _cart(request: HttpRequest) -> dict[str, int]:
    saved = request.session.get(_CART)
    if not isinstance(saved, dict):
        return {}
    return {
        slug: count
        for slug, count in saved.items()
        if slug in PRODUCTS and isinstance(count, int) and count > 0
    }


def _product(slug: str) -> Item:
    found = PRODUCTS.get(slug)
    if found is None:
        raise Http404("no such product")
    return found


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html", {"products": list(PRODUCTS.values())})


@require_GET
def product(request: TikTokPixelRequest, slug: str) -> HttpResponse:
    item = _product(slug)
    request.tiktok_pixel.track(
        "ViewContent", contents=[item.content()], value=item.price, currency=CURRENCY
    )
    return render(request, "shop/product.html", {"product": item})


@require_POST
def cart_add(request: TikTokPixelRequest) -> HttpResponseBase:
    item = _product(request.POST.get("product", ""))
    if not item.in_stock:
        raise Http404("out of stock")
    cart = _cart(request)
    cart[item.slug] = min(cart.get(item.slug, 0) + 1, 99)
    request.session[_CART] = cart
    # Deferred: with htmx it travels with the fragment below; without JavaScript it fires on
    # the cart page the redirect leads to.
    request.tiktok_pixel.track(
        "AddToCart",
        contents=[item.content()],
        value=item.price,
        currency=CURRENCY,
        defer=True,
    )
    if getattr(request, "htmx", False):
        return render(request, "shop/_added.html", {"product": item})
    messages.success(request, f"Added {item.name} to your cart.")
    return redirect("cart")


@require_GET
def cart(request: HttpRequest) -> HttpResponse:
    lines = [(PRODUCTS[slug], count) for slug, count in _cart(request).items()]
    total = sum(item.cents * count for item, count in lines) / 100
    return render(request, "shop/cart.html", {"lines": lines, "total": total})


@require_POST
def pay(request: TikTokPixelRequest) -> HttpResponseBase:
    lines = tuple((PRODUCTS[slug], count) for slug, count in _cart(request).items())
    if not lines:
        return redirect("cart")
    with _lock:
        order = Order(f"D-{next(_numbers)}", lines)
        _orders[order.id] = order
    request.session[_CART] = {}
    request.session.setdefault("orders", [])
    request.session["orders"] = [*request.session["orders"], order.id][-20:]
    # The purchase fires on the order page the redirect leads to, and its server copy goes to
    # the Events API with the same event_id (derived from the order: order_event_id).
    request.tiktok_pixel.track(
        "CompletePayment", order.pixel_params(), order_id=order.id, defer=True, server=True
    )
    return redirect("order", order_id=order.id)


@require_GET
def order(request: HttpRequest, order_id: str) -> HttpResponse:
    found = _orders.get(order_id)
    if found is None or order_id not in request.session.get("orders", []):
        raise Http404("no such order")
    return render(request, "shop/order.html", {"order": found})


def login_view(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return render(request, "shop/login.html", {"error": None})
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return render(request, "shop/login.html", {"error": "Wrong name or password"}, status=400)
    login(request, user)  # user_logged_in: what the last person left for the next page goes
    return redirect("home")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponseBase:
    logout(request)  # user_logged_out: the pixel forgets the visitor
    return redirect("home")
