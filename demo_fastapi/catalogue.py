"""What the FastAPI shop sells: four products, held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Every price in the shop is in this currency.
CURRENCY = "USD"


@dataclass(frozen=True)
class Product:
    slug: str
    sku: str
    name: str
    price_cents: int
    description: str

    @property
    def price(self) -> float:
        """The price in dollars, as the pixel's ``price`` and ``value`` want it."""
        return self.price_cents / 100

    def content(self, quantity: int = 1) -> dict[str, Any]:
        """This product as one item of a pixel event's ``contents``."""
        return {
            "content_id": self.sku,
            "content_type": "product",
            "content_name": self.name,
            "price": self.price,
            "quantity": quantity,
        }


PRODUCTS: dict[str, Product] = {
    product.slug: product
    for product in (
        Product("black-tee", "PX-1001", "Classic black tee", 2400, "Organic cotton."),
        Product("grey-hoodie", "PX-1003", "Grey zip hoodie", 5400, "Brushed fleece inside."),
        Product("pixel-mug", "PX-2001", "Pixel mug", 1450, "Holds 350 ml of anything."),
        Product("tote-bag", "PX-3001", "Canvas tote bag", 1800, "Carries a week's shopping."),
    )
}


def params(lines: list[tuple[Product, int]]) -> dict[str, Any]:
    """A pixel event's parameters for these cart lines: contents, value and currency."""
    return {
        "contents": [product.content(quantity) for product, quantity in lines],
        "value": sum(product.price_cents * quantity for product, quantity in lines) / 100,
        "currency": CURRENCY,
    }
