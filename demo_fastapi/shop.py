"""The shop's pages, and the TikTok Pixel event each one fires.

Pages that answer a GET track on the page itself; form posts track with ``defer=True`` and
redirect, so the event fires once, on the page the visitor lands on (or, for htmx, with the
response that answers it).

Each view is written once, as a ``def``; :func:`router` serves it as FastAPI serves a ``def``
endpoint (in its threadpool), or wrapped in an ``async def`` (in the event loop), as the
setting ``DEMO_ENDPOINTS`` asks. No ``from __future__ import annotations`` here: FastAPI reads
the views' annotations, through the async wrapper too.
"""

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pixel_embed import mask_personal_data, normalize_email
from pixel_embed.errors import InvalidInput
from pixel_embed.integrations.starlette import TikTokPixel, current_pixel

from .catalogue import CURRENCY, PRODUCTS, Product, params
from .store import Store, User

#: The pixel that serves this request (the one PixelMiddleware was given).
Pixel = Annotated[TikTokPixel, Depends(current_pixel)]
_CART = "cart"
_USER = "user_id"
_FLASH = "flash"
#: The longest search query the shop reads (and tracks).
MAX_QUERY = 200


def store(request: Request) -> Store:
    found: Store = request.app.state.store
    return found


def identify_customer(request: Request, pixel: Pixel) -> User | None:
    """While a customer is signed in, every page identifies them (hashed on the server): a
    dependency of every route."""
    user = store(request).user(request.session.get(_USER))
    if user is not None:
        # Every request identifies again: nothing to carry across a redirect (defer=False).
        pixel.identify(email=user.email, phone_number=user.phone, external_id=user.id, defer=False)
    return user


Customer = Annotated[User | None, Depends(identify_customer)]


def _cart(request: Request) -> dict[str, int]:
    saved = request.session.get(_CART)
    if not isinstance(saved, dict):
        return {}
    return {k: v for k, v in saved.items() if k in PRODUCTS and isinstance(v, int) and v > 0}


def _lines(request: Request) -> list[tuple[Product, int]]:
    return [(PRODUCTS[slug], quantity) for slug, quantity in _cart(request).items()]


def _flash(request: Request, message: str) -> None:
    request.session[_FLASH] = [*request.session.get(_FLASH, []), message][-5:]


def page(
    request: Request, pixel: TikTokPixel, user: User | None, name: str, **context: Any
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "user": user,
            "cart_size": sum(_cart(request).values()),
            "flashes": request.session.pop(_FLASH, []),
            "consent_mode": settings["TIKTOK_PIXEL_CONSENT"],
            "consent_choice": pixel.consent,
            "csp_nonce": request.state.csp_nonce,
        },
    )


def _product(slug: str) -> Product:
    found = PRODUCTS.get(slug)
    if found is None:
        raise HTTPException(404, "No such product")
    return found


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back(target: str, default: str) -> str:
    """The form's ``next`` when it is a path on this site (never another site), else default."""
    parts = urlsplit(target)
    if target.startswith("/") and not parts.scheme and not parts.netloc and "\\" not in target:
        return target
    return default


# -- the views ---------------------------------------------------------------------------------


def home(request: Request, pixel: Pixel, user: Customer) -> Response:
    return page(request, pixel, user, "home.html", products=list(PRODUCTS.values()))


def product(slug: str, request: Request, pixel: Pixel, user: Customer) -> Response:
    item = _product(slug)
    pixel.track("ViewContent", contents=[item.content()], value=item.price, currency=CURRENCY)
    return page(request, pixel, user, "product.html", product=item)


def search(request: Request, pixel: Pixel, user: Customer, q: str = "") -> Response:
    # Visitors type anything in a search box, their e-mail address included: the query goes to
    # the pixel masked (strict mode, the demo's, refuses personal data in free text).
    query = q[:MAX_QUERY]
    if query.strip():
        pixel.track("Search", query=mask_personal_data(query))
    found = [p for p in PRODUCTS.values() if query.strip().lower() in p.name.lower()]
    return page(request, pixel, user, "search.html", query=query, results=found)


def cart_add(
    request: Request,
    pixel: Pixel,
    user: Customer,
    product: Annotated[str, Form()] = "",
    quantity: Annotated[int, Form(ge=1, le=20)] = 1,
) -> Response:
    item = _product(product)
    cart = _cart(request)
    cart[item.slug] = min(20, cart.get(item.slug, 0) + quantity)
    request.session[_CART] = cart
    # Deferred: with htmx it fires with this response; without JavaScript, after the redirect.
    pixel.track("AddToCart", params([(item, quantity)]), defer=True)
    message = f"Added {quantity} x {item.name} to your cart."
    if _is_htmx(request):
        return page(request, pixel, user, "_added.html", message=message)
    _flash(request, message)
    return RedirectResponse("/cart", status_code=303)


def cart(request: Request, pixel: Pixel, user: Customer) -> Response:
    lines = _lines(request)
    total = sum(p.price_cents * n for p, n in lines)
    return page(request, pixel, user, "cart.html", lines=lines, total=total)


def checkout(request: Request, pixel: Pixel, user: Customer) -> Response:
    lines = _lines(request)
    if not lines:
        _flash(request, "Your cart is empty.")
        return RedirectResponse("/cart", status_code=303)
    pixel.track("InitiateCheckout", params(lines))
    total = sum(p.price_cents * n for p, n in lines)
    return page(request, pixel, user, "checkout.html", lines=lines, total=total)


def place_order(request: Request, pixel: Pixel, user: Customer) -> Response:
    cart = _cart(request)
    if not cart:
        return RedirectResponse("/cart", status_code=303)
    order = store(request).place(cart, user.id if user else None)
    request.session.pop(_CART, None)
    request.session["orders"] = [*request.session.get("orders", []), order.id][-10:]
    # Fires on the order page after the redirect, once; its server copy (with an access token)
    # carries the same event_id, derived from the order: TikTok counts the sale once.
    pixel.track(
        "CompletePayment", params(list(order.lines)), order_id=order.id, defer=True, server=True
    )
    _flash(request, "Thank you for your order!")
    return RedirectResponse(f"/orders/{order.id}", status_code=303)


def order(order_id: str, request: Request, pixel: Pixel, user: Customer) -> Response:
    found = store(request).order(order_id)
    if found is None or found.id not in request.session.get("orders", []):
        raise HTTPException(404, "No such order")
    return page(request, pixel, user, "order.html", order=found)


def login_form(request: Request, pixel: Pixel, user: Customer, next: str = "") -> Response:
    return page(request, pixel, user, "login.html", error=None, email="", next=next)


def login(
    request: Request,
    pixel: Pixel,
    user: Customer,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        found = store(request).authenticate(normalize_email(email), password)
    except InvalidInput:
        found = None
    if found is None:
        error = "That e-mail address and password do not match."
        response = page(request, pixel, user, "login.html", error=error, email=email, next=next)
        response.status_code = 400
        return response
    request.session[_USER] = found.id
    _flash(request, f"Welcome back, {found.name}.")
    return RedirectResponse(_back(next, "/account"), status_code=303)


def logout(request: Request, pixel: Pixel) -> Response:
    request.session.pop(_USER, None)
    # Nothing of this visitor reaches TikTok after the logout; the SDK forgets them too.
    pixel.forget()
    _flash(request, "You are signed out.")
    return RedirectResponse("/", status_code=303)


def account(request: Request, pixel: Pixel, user: Customer) -> Response:
    if user is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    mine = [o for o in map(store(request).order, request.session.get("orders", [])) if o]
    return page(request, pixel, user, "account.html", orders=mine)


ROUTES: list[tuple[str, Callable[..., Response], str]] = [
    ("/", home, "GET"),
    ("/product/{slug}", product, "GET"),
    ("/search", search, "GET"),
    ("/cart/add", cart_add, "POST"),
    ("/cart", cart, "GET"),
    ("/checkout", checkout, "GET"),
    ("/checkout/place", place_order, "POST"),
    ("/orders/{order_id}", order, "GET"),
    ("/login", login_form, "GET"),
    ("/login", login, "POST"),
    ("/logout", logout, "POST"),
    ("/account", account, "GET"),
]


def as_endpoint(
    view: Callable[..., Response], kind: Literal["async", "sync"]
) -> Callable[..., Any]:
    """``view`` as FastAPI should run it: itself (a ``def``: in the threadpool), or wrapped in
    an ``async def`` that calls it in the event loop."""
    if kind == "sync":
        return view

    @functools.wraps(view)
    async def endpoint(*args: Any, **kwargs: Any) -> Response:
        return view(*args, **kwargs)

    return endpoint


def router(kind: Literal["async", "sync"]) -> APIRouter:
    """The shop's routes, each run as ``kind`` says."""
    routes = APIRouter(
        dependencies=[Depends(identify_customer)], default_response_class=HTMLResponse
    )
    for path, view, method in ROUTES:
        routes.add_api_route(
            path, as_endpoint(view, kind), methods=[method], name=view.__name__, response_model=None
        )
    return routes
