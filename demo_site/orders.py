"""The cart (in the visitor's session) and placed orders (in memory)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app, session

from .catalogue import CURRENCY, PRODUCTS, Product

_CART = "cart"
_GIFT_WRAP = "gift_wrap"
_MY_ORDERS = "orders"


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity


def total_cents(lines: Iterable[Line]) -> int:
    return sum(line.total_cents for line in lines)


def pixel_params(lines: Iterable[Line]) -> dict[str, Any]:
    """``contents``, ``value`` and ``currency`` of a pixel event for these lines."""
    lines = list(lines)
    return {
        "contents": [line.product.content(line.quantity) for line in lines],
        "value": total_cents(lines) / 100,
        "currency": CURRENCY,
    }


# -- the cart, in the session --------------------------------------------------------------------


def cart_lines() -> list[Line]:
    saved = session.get(_CART)
    if not isinstance(saved, Mapping):
        return []
    return [
        Line(PRODUCTS[slug], quantity)
        for slug, quantity in saved.items()
        if slug in PRODUCTS and isinstance(quantity, int) and quantity > 0
    ]


def add_to_cart(product: Product, quantity: int) -> None:
    cart = {line.product.slug: line.quantity for line in cart_lines()}
    cart[product.slug] = min(cart.get(product.slug, 0) + quantity, 99)
    session[_CART] = cart


def remove_from_cart(product: Product) -> None:
    session[_CART] = {
        line.product.slug: line.quantity for line in cart_lines() if line.product != product
    }


def gift_wrap() -> bool:
    return session.get(_GIFT_WRAP) is True


def set_gift_wrap(on: bool) -> None:
    session[_GIFT_WRAP] = on


def cart_size() -> int:
    return sum(line.quantity for line in cart_lines())


# -- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    id: str
    lines: tuple[Line, ...]
    payment_method: str
    gift_wrap: bool
    user_id: str | None
    paid: bool = False
    #: What pixel.matching_context() returned when the order was placed: the payment
    #: provider's webhook sends the server Purchase with it, without the visitor.
    matching_context: Mapping[str, Any] | None = None
    #: The payment provider confirmed the payment (its webhook).
    confirmed: bool = False

    @property
    def total_cents(self) -> int:
        return total_cents(self.lines)


class OrderStore:
    """Placed orders, for as long as the process runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}

    def place(
        self,
        lines: Iterable[Line],
        *,
        payment_method: str,
        gift_wrap: bool,
        user_id: str | None,
        matching_context: Mapping[str, Any] | None = None,
    ) -> Order:
        with self._lock:
            order_id = f"PX-{secrets.token_hex(4).upper()}"
            while order_id in self._orders:  # pragma: no cover - 1 in 4 billion
                order_id = f"PX-{secrets.token_hex(4).upper()}"
            order = Order(
                order_id,
                tuple(lines),
                payment_method,
                gift_wrap,
                user_id,
                matching_context=matching_context,
            )
            self._orders[order_id] = order
        return order

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def mark_paid(self, order_id: str) -> bool:
        """Record the payment; ``False`` when the order was already paid (a second submit)."""
        with self._lock:
            order = self._orders[order_id]
            if order.paid:
                return False
            self._orders[order_id] = replace(order, paid=True)
            return True

    def confirm(self, order_id: str) -> Order | None:
        """Record the provider's confirmation; the order the first time, ``None`` after (a
        provider sends a webhook again when it is unsure the shop got it)."""
        with self._lock:
            order = self._orders[order_id]
            if order.confirmed:
                return None
            self._orders[order_id] = order = replace(order, paid=True, confirmed=True)
            return order


def orders() -> OrderStore:
    store: OrderStore = current_app.extensions["demo_shop"].orders
    return store


def place_order(
    payment_method: str, user_id: str | None, matching_context: Mapping[str, Any] | None = None
) -> Order:
    """Turn the cart into an order, remember it as this visitor's, and empty the cart."""
    order = orders().place(
        cart_lines(),
        payment_method=payment_method,
        gift_wrap=gift_wrap(),
        user_id=user_id,
        matching_context=matching_context,
    )
    session[_MY_ORDERS] = [*session.get(_MY_ORDERS, []), order.id][-20:]
    session.pop(_CART, None)
    session.pop(_GIFT_WRAP, None)
    return order


def my_order(order_id: str) -> Order | None:
    """The order if this visitor placed it (order ids are not secrets), else ``None``."""
    if order_id not in session.get(_MY_ORDERS, []):
        return None
    return orders().get(order_id)
