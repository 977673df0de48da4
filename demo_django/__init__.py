"""Pixel & Co. on Django: the demo shop's journey (browse, add to cart with htmx, pay, log in
and out) with pixel_embed's Django integration, as a Django site would use it.

``python -m demo_django`` serves it (``make demo-django``); ``python -m demo_django COMMAND``
is its ``manage.py`` (``python -m demo_django tiktok_pixel events status``).
"""
