"""A Django site with nothing else: no Flask, no Werkzeug, no django-csp, no django-htmx, no
Playwright. The integration serves its page, partial pages and checks without them."""

from __future__ import annotations

from test_imports import run_blocked

SITE = """
import django
from django.conf import settings
from django.http import HttpResponse
from django.template import engines
from django.urls import path

settings.configure(
    SECRET_KEY="x",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions", "pixel_embed.integrations.django"],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware",
    ],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    TIKTOK_PIXEL_CODE="CABCDE1234567890ABCD",
    TIKTOK_PIXEL_PARTIAL=True,
)
django.setup()


def page(request):
    request.tiktok_pixel.track("ViewContent", content_id="x")
    template = engines["django"].from_string("{% load tiktok_pixel %}{% tiktok_pixel %}")
    return HttpResponse(template.render({}, request))


urlpatterns = [path("", page)]

from django.core.checks import run_checks
from django.test import Client

assert b'ttq.track("ViewContent"' in Client().get("/").content
assert '"ViewContent"' in Client().get("/", HTTP_HX_REQUEST="true")["PixelEmbed-Calls"]
assert not run_checks()
print("served")
"""


def test_a_django_site_needs_nothing_but_django() -> None:
    blocked = ("flask", "werkzeug", "playwright", "csp", "django_htmx", "starlette")
    process, tried = run_blocked(SITE, blocked=blocked)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "served" in process.stdout
    assert tried == []
