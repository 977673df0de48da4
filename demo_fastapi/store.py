"""The shop's memory: customers and orders, for as long as the process runs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field

from .catalogue import PRODUCTS, Product


@dataclass(frozen=True)
class User:
    id: str
    name: str
    #: Normalised (trimmed, lower-case); only its hash reaches a page.
    email: str
    #: E.164, or ``None``.
    phone: str | None
    salt: bytes
    password_hash: bytes


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)


@dataclass(frozen=True)
class Order:
    id: str
    lines: tuple[tuple[Product, int], ...]
    user_id: str | None

    @property
    def total_cents(self) -> int:
        return sum(product.price_cents * quantity for product, quantity in self.lines)


@dataclass
class Store:
    """Customers and orders; safe for the threadpool's views and the event loop's at once."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _users: dict[str, User] = field(default_factory=dict)
    _orders: dict[str, Order] = field(default_factory=dict)

    def add_user(self, *, name: str, email: str, phone: str | None, password: str) -> User:
        salt = secrets.token_bytes(16)
        with self._lock:
            user = User(
                f"u-{len(self._users) + 1}", name, email, phone, salt, _hash(password, salt)
            )
            self._users[user.id] = user
        return user

    def user(self, user_id: object) -> User | None:
        return self._users.get(user_id) if isinstance(user_id, str) else None

    def authenticate(self, email: str, password: str) -> User | None:
        """The customer with this (normalised) address and password, else ``None``."""
        for user in list(self._users.values()):
            if user.email == email and hmac.compare_digest(
                user.password_hash, _hash(password, user.salt)
            ):
                return user
        return None

    def place(self, cart: dict[str, int], user_id: str | None) -> Order:
        lines = tuple((PRODUCTS[slug], n) for slug, n in cart.items() if slug in PRODUCTS)
        order = Order(f"PX-{secrets.token_hex(4).upper()}", lines, user_id)
        with self._lock:
            self._orders[order.id] = order
        return order

    def order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)
