"""The shop's URLs."""

from __future__ import annotations

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("product/<slug:slug>", views.product, name="product"),
    path("cart", views.cart, name="cart"),
    path("cart/add", views.cart_add, name="cart_add"),
    path("checkout/pay", views.pay, name="pay"),
    path("orders/<str:order_id>", views.order, name="order"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    re_path(r"^static/(?P<path>.+)$", serve, {"document_root": settings.STATIC_ROOT}),
]
