"""The Django shop's few products (the Flask demo's catalogue is a module of a Flask app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Every price in the shop is in this currency.
CURRENCY = "USD"


@dataclass(frozen=True)
class Item:
    slug: str
    sku: str
    name: str
    cents: int
    description: str
    in_stock: bool = True

    @property
    def price(self) -> float:
        return self.cents / 100

    def content(self, quantity: int = 1) -> dict[str, Any]:
        """This product as one entry of a pixel event's ``contents``."""
        return {
            "content_id": self.sku,
            "content_type": "product",
            "content_name": self.name,
            "price": self.price,
            "quantity": quantity,
        }


PRODUCTS: dict[str, Item] = {
    item.slug: item
    for item in (
        Item("black-tee", "PX-1001", "Classic black tee", 2400, "Heavyweight organic cotton."),
        Item("enamel-mug", "PX-2001", "Enamel camp mug", 1450, "Enamel on steel."),
        Item("canvas-tote", "PX-3001", "Canvas tote bag", 1999, "Long handles, inside pocket."),
        Item("navy-cap", "PX-3002", "Navy cap", 2200, "Back soon.", in_stock=False),
    )
}
