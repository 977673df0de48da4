"""What the core reads of a Django request and response, read when the core asks.

:class:`DjangoRequestFacts` and :class:`DjangoResponseFacts` fill the core's
:class:`~pixel_embed.core.request.RequestFacts` and
:class:`~pixel_embed.core.request.ResponseFacts` protocols from Django's ``HttpRequest`` and
``HttpResponseBase``, each value only when the core needs it (the usual page reads few).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import FileResponse, HttpRequest, HttpResponseBase


class DjangoRequestFacts:
    """A Django request, as the core reads it."""

    __slots__ = ("request",)

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @property
    def method(self) -> str:
        return self.request.method or "GET"

    @property
    def url(self) -> str:
        """The page's address. The ``Host`` header is the one Django accepted
        (``ALLOWED_HOSTS``); a host it refuses is never repeated (the server's name is)."""
        request = self.request
        try:
            host = request.get_host()
        except DisallowedHost:
            host = str(request.META.get("SERVER_NAME", "localhost"))
        return f"{request.scheme}://{host}{request.get_full_path()}"

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def raw_path(self) -> str:
        return self.request.path

    @property
    def raw_query(self) -> str:
        return str(self.request.META.get("QUERY_STRING", ""))

    @property
    def endpoint(self) -> str | None:
        """The view's name (``shop:product``), as ``{% url %}`` names it, or its dotted path."""
        match = self.request.resolver_match
        return match.view_name if match is not None else None

    @property
    def remote_addr(self) -> str | None:
        address = self.request.META.get("REMOTE_ADDR")
        return address if isinstance(address, str) else None

    @property
    def is_secure(self) -> bool:
        return self.request.is_secure()

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers, read from ``request.META`` one name at a time: Django's
        ``request.headers`` copies every header into a dict on first use, which cost a page
        about a tenth of what the pixel adds (benchmarks/django_server.py)."""
        return MetaHeaders(self.request.META)

    @property
    def cookies(self) -> Mapping[str, str]:
        return self.request.COOKIES

    @property
    def args(self) -> Mapping[str, str]:
        """The first value of each query argument (``QueryDict.get`` gives the last)."""
        return {name: values[0] for name, values in self.request.GET.lists() if values}


class MetaHeaders(Mapping[str, str]):
    """A WSGI environ's (``request.META``'s) headers by their names, in any case."""

    __slots__ = ("meta",)
    # Two headers CGI keeps without the HTTP_ prefix.
    _UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.meta = meta

    def __getitem__(self, name: str) -> str:
        key = name.upper().replace("-", "_")
        value = self.meta[key if key in self._UNPREFIXED else f"HTTP_{key}"]
        if not isinstance(value, str):
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        for key in self.meta:
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in self._UNPREFIXED:
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DjangoResponseFacts:
    """A Django response, as the core's after-request step reads it."""

    __slots__ = ("response",)

    def __init__(self, response: HttpResponseBase) -> None:
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def mimetype(self) -> str:
        content_type = self.response.get("Content-Type") or ""
        return content_type.partition(";")[0].strip().lower()

    @property
    def streamed(self) -> bool:
        return bool(self.response.streaming)

    @property
    def passthrough(self) -> bool:
        return isinstance(self.response, FileResponse)

    @property
    def headers(self) -> Mapping[str, str]:
        """Django's own case-insensitive ``response.headers``."""
        return self.response.headers

    def header_items(self) -> Iterable[tuple[str, str]]:
        return self.response.items()
