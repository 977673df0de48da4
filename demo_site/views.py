"""The shop's pages, and the TikTok Pixel event each one fires.

Pages that answer a GET track on the page itself; form POSTs track with ``defer=True`` and
redirect, so the event fires once, on the page the visitor lands on.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from pixel_embed import mask_personal_data
from pixel_embed.events_api import send_event

from . import forms
from .accounts import User, load_user, log_in, log_out, users
from .catalogue import CATEGORIES, CURRENCY, PRODUCTS, Product, in_category
from .catalogue import search as search_catalogue
from .extensions import pixel
from .forms import FormError
from .orders import (
    Line,
    add_to_cart,
    cart_lines,
    cart_size,
    gift_wrap,
    my_order,
    orders,
    pixel_params,
    place_order,
    remove_from_cart,
    set_gift_wrap,
    total_cents,
)
from .payments import MAX_BODY, SIGNATURE_HEADER, sign

bp = Blueprint("shop", __name__)

PAYMENT_METHODS = {"card": "Credit or debit card", "paypal": "PayPal", "invoice": "Invoice"}
_WISHLIST = "wishlist"
_PAYMENT = "payment_method"


@dataclass(frozen=True)
class Download:
    slug: str
    title: str
    filename: str
    body: str


DOWNLOADS: dict[str, Download] = {
    "size-guide": Download(
        "size-guide",
        "Size guide",
        "pixel-and-co-size-guide.txt",
        "Pixel & Co. size guide\n\nSize  Chest (cm)  Length (cm)\nS     92          68\n"
        "M     100         71\nL     108         74\nXL    116         77\n",
    ),
}


# -- on every page -----------------------------------------------------------------------------


@bp.before_app_request
def identify_customer() -> None:
    """While a customer is signed in, every page identifies them (hashed on the server)."""
    user = load_user()
    if user is not None and request.endpoint != "static":
        # Every request identifies again: nothing to carry across a redirect (defer=False).
        pixel.identify(email=user.email, phone_number=user.phone, external_id=user.id, defer=False)


@bp.app_context_processor
def shop_context() -> dict[str, Any]:
    return {
        "user": g.get("user"),
        "cart_size": cart_size(),
        "categories": list(CATEGORIES.values()),
        # No banner when there is no pixel to ask about.
        "consent_mode": current_app.config["TIKTOK_PIXEL_CONSENT"]
        if current_app.config["TIKTOK_PIXEL_ENABLED"]
        else "none",
        "consent_choice": pixel.consent,
    }


@bp.app_template_filter("money")
def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@bp.app_errorhandler(404)
def not_found(error: Exception) -> tuple[str, int]:
    return render_template("shop/not_found.html"), 404


def _product(slug: str) -> Product:
    product = PRODUCTS.get(slug)
    if product is None:
        abort(404)
    return product


def _answer(message: str, target: str, *, error: bool = False) -> BaseResponse | str:
    """A form post's answer: for htmx, the message in place (the pixel's calls of the request,
    deferred ones included, travel with it); otherwise flash it and redirect to ``target``."""
    if request.headers.get("HX-Request") == "true":
        return render_template("shop/_status.html", message=message, error=error)
    flash(message, "error" if error else "message")
    return redirect(target)


def _back(default: str) -> str:
    """The form's ``next`` when it is a path on this site (never another site), else default."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not parts.scheme and not parts.netloc and "\\" not in target:
        return target
    return default


# -- browsing ----------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    return render_template("shop/home.html", products=list(PRODUCTS.values()))


@bp.get("/category/<slug>")
def category(slug: str) -> str:
    found = CATEGORIES.get(slug)
    if found is None:
        abort(404)
    return render_template("shop/category.html", category=found, products=in_category(slug))


@bp.get("/product/<slug>")
def product(slug: str) -> str:
    item = _product(slug)
    pixel.track("ViewContent", contents=[item.content()], value=item.price, currency=CURRENCY)
    return render_template("shop/product.html", product=item)


#: The longest search query the shop reads (and tracks).
MAX_QUERY = 200


@bp.get("/search")
def search() -> str:
    # Visitors type anything in a search box, their e-mail address included: the query goes to
    # the pixel masked (strict mode, the demo's, refuses personal data in free text). The page
    # escapes it.
    query = request.args.get("q", "")[:MAX_QUERY]
    if query.strip():
        pixel.track("Search", query=mask_personal_data(query))
    return render_template("shop/search.html", query=query, results=search_catalogue(query))


# -- cart and wishlist (form POSTs that redirect) ----------------------------------------------


@bp.post("/cart/add")
def cart_add() -> BaseResponse | str:
    item = _product(request.form.get("product", ""))
    back = url_for(".product", slug=item.slug)
    if not item.in_stock:
        return _answer(f"{item.name} is out of stock.", back, error=True)
    try:
        quantity = forms.quantity(request.form)
    except FormError as error:
        return _answer(error.problem, back, error=True)
    add_to_cart(item, quantity)
    pixel.track("AddToCart", pixel_params([Line(item, quantity)]), defer=True)
    return _answer(f"Added {quantity} x {item.name} to your cart.", url_for(".cart"))


@bp.post("/cart/remove")
def cart_remove() -> BaseResponse:
    item = _product(request.form.get("product", ""))
    remove_from_cart(item)
    flash(f"Removed {item.name} from your cart.")
    return redirect(url_for(".cart"))


@bp.post("/cart/gift-wrap")
def cart_gift_wrap() -> BaseResponse:
    """Free gift wrap: the shop's custom event, ``tiktok_custom_event`` (as in the Segment
    destination's custom-event mapping)."""
    lines = cart_lines()
    wanted = request.form.get("gift_wrap") == "on"
    if wanted and lines and not gift_wrap():
        pixel.track(
            "tiktok_custom_event",
            pixel_params(lines),
            description="Gift wrap added",
            defer=True,
        )
        flash("Your order will be gift wrapped.")
    set_gift_wrap(wanted and bool(lines))
    return redirect(url_for(".cart"))


@bp.get("/cart")
def cart() -> str:
    lines = cart_lines()
    return render_template(
        "shop/cart.html", lines=lines, total=total_cents(lines), gift_wrap=gift_wrap()
    )


@bp.post("/wishlist/add")
def wishlist_add() -> BaseResponse | str:
    item = _product(request.form.get("product", ""))
    saved = [slug for slug in session.get(_WISHLIST, []) if slug != item.slug]
    session[_WISHLIST] = [*saved, item.slug][-50:]
    pixel.track("AddToWishlist", pixel_params([Line(item, 1)]), defer=True)
    return _answer(f"Saved {item.name} to your wishlist.", url_for(".product", slug=item.slug))


@bp.get("/wishlist")
def wishlist() -> str:
    saved = [PRODUCTS[slug] for slug in session.get(_WISHLIST, []) if slug in PRODUCTS]
    return render_template("shop/wishlist.html", products=saved)


@bp.post("/product/<slug>/notify")
def notify_me(slug: str) -> BaseResponse:
    """The "Notify me when it is back" button."""
    item = _product(slug)
    pixel.track(
        "ClickButton",
        description="Notify me when back in stock",
        content_id=item.sku,
        defer=True,
    )
    flash(f"We will let you know when the {item.name} is back.")
    return redirect(url_for(".product", slug=item.slug))


# -- checkout ----------------------------------------------------------------------------------


@bp.get("/checkout")
def checkout() -> BaseResponse | str:
    lines = cart_lines()
    if not lines:
        flash("Your cart is empty.", "error")
        return redirect(url_for(".cart"))
    pixel.track("InitiateCheckout", pixel_params(lines))
    return render_template(
        "shop/checkout.html",
        lines=lines,
        total=total_cents(lines),
        methods=PAYMENT_METHODS,
        chosen=session.get(_PAYMENT),
    )


@bp.post("/checkout/payment")
def payment_details() -> BaseResponse:
    lines = cart_lines()
    if not lines:
        return redirect(url_for(".cart"))
    method = request.form.get("payment_method", "")
    if method not in PAYMENT_METHODS:
        flash("Choose how you would like to pay.", "error")
        return redirect(url_for(".checkout"))
    session[_PAYMENT] = method
    pixel.track("AddPaymentInfo", pixel_params(lines), defer=True)
    return redirect(url_for(".review"))


@bp.get("/checkout/review")
def review() -> BaseResponse | str:
    lines = cart_lines()
    method = session.get(_PAYMENT)
    if not lines:
        return redirect(url_for(".cart"))
    if method not in PAYMENT_METHODS:
        return redirect(url_for(".checkout"))
    return render_template(
        "shop/review.html",
        lines=lines,
        total=total_cents(lines),
        method=PAYMENT_METHODS[method],
        gift_wrap=gift_wrap(),
    )


@bp.post("/checkout/place")
def place() -> BaseResponse:
    method = session.get(_PAYMENT)
    if not cart_lines() or method not in PAYMENT_METHODS:
        return redirect(url_for(".checkout"))
    user: User | None = g.get("user")
    # What matches this visitor to TikTok (click id, _ttp, address, browser, hashed identity,
    # consent), kept with the order for the payment provider's webhook.
    order = place_order(method, user.id if user else None, pixel.matching_context())
    session.pop(_PAYMENT, None)
    pixel.track("PlaceAnOrder", pixel_params(order.lines), order_id=order.id, defer=True)
    return redirect(url_for(".order", order_id=order.id))


@bp.get("/orders/<order_id>")
def order(order_id: str) -> str:
    found = my_order(order_id)
    if found is None:
        abort(404)
    return render_template("shop/order.html", order=found, method=PAYMENT_METHODS)


@bp.post("/orders/<order_id>/pay")
def pay(order_id: str) -> BaseResponse:
    found = my_order(order_id)
    if found is None:
        abort(404)
    # A second submit (double click, back button) must not count the sale twice.
    if orders().mark_paid(found.id):
        # Its event_id is the order's (order_event_id): the payment provider's webhook sends
        # the server Purchase with the same one, so TikTok counts the sale once.
        pixel.track("CompletePayment", pixel_params(found.lines), order_id=found.id, defer=True)
        flash("Payment received. Thank you!")
        if current_app.config["DEMO_PAYMENT_WEBHOOKS"]:
            current_app.extensions["demo_shop"].provider.charge(
                found.id,
                found.total_cents,
                CURRENCY,
                url_for(".payment_webhook", _external=True),
            )
    return redirect(url_for(".order", order_id=found.id))


@bp.post("/webhooks/payments")
def payment_webhook() -> tuple[str, int]:
    """The payment provider confirms a payment: server to server, signed, without the visitor
    (no cookie, no session, the provider's address). The server Purchase goes out from here,
    with the matching context stored with the order."""
    body = request.get_data(cache=False)
    secret = current_app.config["DEMO_PAYMENT_SECRET"]
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if len(body) > MAX_BODY or not hmac.compare_digest(signature, sign(secret, body)):
        return "bad signature", 403
    try:
        event = json.loads(body)
        order_id = event["order_id"]
    except (ValueError, KeyError, TypeError):
        return "not a payment event", 400
    found = orders().get(order_id) if isinstance(order_id, str) else None
    if found is None or event.get("type") != "payment.succeeded":
        return "unknown order", 404
    confirmed = orders().confirm(found.id)
    if confirmed is not None:  # the first confirmation only: a retried webhook sends nothing
        send_event(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            "CompletePayment",
            pixel_params(confirmed.lines),
            order_id=confirmed.id,
            context=confirmed.matching_context,
        )
    return "", 204


# -- accounts ----------------------------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> BaseResponse | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("shop/signup.html", error=None, form={})
    try:
        name = forms.text(request.form, "name", label="Name", max_length=80)
        email = forms.email(request.form)
        phone = forms.phone(
            request.form, "phone", region=current_app.config["TIKTOK_PIXEL_DEFAULT_REGION"]
        )
        password = request.form.get("password", "")
        if len(password) < 8:
            raise FormError("password", "Password must be at least 8 characters")
        user = users().create(name=name, email=email, phone=phone, password=password)
    except FormError as error:
        return render_template("shop/signup.html", error=error, form=request.form), 400
    log_in(user)
    pixel.track("CompleteRegistration", defer=True)
    flash(f"Welcome to Pixel & Co., {user.name}!")
    return redirect(url_for(".account"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("shop/login.html", error=None, form={})
    try:
        email = forms.email(request.form)
    except FormError as error:
        return render_template("shop/login.html", error=error, form=request.form), 400
    user = users().authenticate(email, request.form.get("password", ""))
    if user is None:
        wrong = FormError("password", "That e-mail address and password do not match")
        return render_template("shop/login.html", error=wrong, form=request.form), 400
    log_in(user)
    flash(f"Welcome back, {user.name}.")
    return redirect(_back(url_for(".account")))


@bp.post("/logout")
def logout() -> BaseResponse:
    log_out()
    flash("You are signed out.")
    return redirect(url_for(".home"))


@bp.get("/account")
def account() -> BaseResponse | str:
    user: User | None = g.get("user")
    if user is None:
        return redirect(url_for(".login"))
    mine = [o for o in map(my_order, session.get("orders", [])) if o is not None]
    return render_template("shop/account.html", orders=mine)


# -- contact, newsletter, downloads ------------------------------------------------------------


@bp.route("/contact", methods=["GET", "POST"])
def contact() -> BaseResponse | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("shop/contact.html", error=None, form={})
    try:
        message = {
            "name": forms.text(request.form, "name", label="Name", max_length=80),
            "email": forms.email(request.form),
            "message": forms.text(request.form, "message", label="Message", max_length=2000),
        }
    except FormError as error:
        return render_template("shop/contact.html", error=error, form=request.form), 400
    current_app.extensions["demo_shop"].messages.append(message)
    pixel.track("Contact", description="Contact form", defer=True)
    pixel.track("SubmitForm", description="Contact form", defer=True)
    flash("Thanks for your message: we answer within one working day.")
    return redirect(url_for(".contact"))


@bp.post("/newsletter")
def newsletter() -> BaseResponse | tuple[BaseResponse, int]:
    """The footer's form: posted by fetch() (static/newsletter.js, JSON answer; its
    ``pixelEmbed.fromResponse`` fires Subscribe), or as a plain form that redirects back."""
    wants_json = request.accept_mimetypes.best == "application/json"
    back = _back(url_for(".home"))
    try:
        email = forms.email(request.form)
    except FormError as error:
        if wants_json:
            return jsonify(ok=False, message=error.problem), 400
        flash(error.problem, "error")
        return redirect(back)
    current_app.extensions["demo_shop"].subscribers.add(email)
    pixel.track("Subscribe", description="Newsletter", defer=True)
    message = "You are subscribed to our newsletter."
    if wants_json:
        return jsonify(ok=True, message=message)
    flash(message)
    return redirect(back)


@bp.get("/downloads")
def downloads() -> str:
    return render_template("shop/downloads.html", downloads=list(DOWNLOADS.values()))


def _download(slug: str) -> Download:
    found = DOWNLOADS.get(slug)
    if found is None:
        abort(404)
    return found


@bp.post("/downloads/<slug>")
def request_download(slug: str) -> BaseResponse:
    item = _download(slug)
    pixel.track("Download", description=item.title, content_id=item.slug, defer=True)
    return redirect(url_for(".download", slug=item.slug))


@bp.get("/downloads/<slug>")
def download(slug: str) -> str:
    return render_template("shop/download.html", download=_download(slug))


@bp.get("/downloads/<slug>/file")
def download_file(slug: str) -> Response:
    item = _download(slug)
    return Response(
        item.body,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{item.filename}"'},
    )
