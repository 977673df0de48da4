"""The shop's catalogue: a few products in three categories, held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Every price in the shop is in this currency.
CURRENCY = "USD"


@dataclass(frozen=True)
class Category:
    slug: str
    name: str
    blurb: str


@dataclass(frozen=True)
class Product:
    slug: str
    sku: str
    name: str
    category: str
    price_cents: int
    description: str
    in_stock: bool = True

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
            "content_category": self.category,
            "price": self.price,
            "quantity": quantity,
        }


CATEGORIES: dict[str, Category] = {
    category.slug: category
    for category in (
        Category("apparel", "Apparel", "Soft cotton, printed in small runs."),
        Category("kitchen", "Kitchen", "Mugs for the first coffee and the last tea."),
        Category("accessories", "Accessories", "Small things that go everywhere with you."),
    )
}

PRODUCTS: dict[str, Product] = {
    product.slug: product
    for product in (
        Product(
            "black-tee",
            "PX-1001",
            "Classic black tee",
            "apparel",
            2400,
            "Heavyweight organic cotton with a small pixel on the chest.",
        ),
        Product(
            "white-tee",
            "PX-1002",
            "Organic white tee",
            "apparel",
            2600,
            "The everyday tee, in undyed organic cotton.",
        ),
        Product(
            "grey-hoodie",
            "PX-1003",
            "Grey zip hoodie",
            "apparel",
            5400,
            "Brushed fleece inside, a two-way zip outside.",
        ),
        Product(
            "enamel-mug",
            "PX-2001",
            "Enamel camp mug",
            "kitchen",
            1450,
            "Chip-resistant enamel on steel; goes on the camp stove.",
        ),
        Product(
            "stoneware-mug",
            "PX-2002",
            "Stoneware mug",
            "kitchen",
            1800,
            "Hand-glazed, dishwasher safe, holds a generous 350 ml.",
        ),
        Product(
            "canvas-tote",
            "PX-3001",
            "Canvas tote bag",
            "accessories",
            1999,
            "Twelve-ounce canvas with long handles and an inside pocket.",
        ),
        Product(
            "navy-cap",
            "PX-3002",
            "Navy cap",
            "accessories",
            2200,
            "Six panels, brass buckle. Back soon.",
            in_stock=False,
        ),
        Product(
            "sticker-pack",
            "PX-3003",
            "Sticker pack",
            "accessories",
            600,
            "Eight weatherproof vinyl stickers.",
        ),
    )
}


def in_category(slug: str) -> list[Product]:
    """The products of one category, in catalogue order."""
    return [product for product in PRODUCTS.values() if product.category == slug]


def search(query: str) -> list[Product]:
    """Products whose name, description or category contains every word of ``query``."""
    words = query.casefold().split()
    if not words:
        return []
    found = []
    for product in PRODUCTS.values():
        text = f"{product.name} {product.description} {product.category}".casefold()
        if all(word in text for word in words):
            found.append(product)
    return found
