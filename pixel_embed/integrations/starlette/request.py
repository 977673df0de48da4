"""An ASGI request and response as the core reads them (:class:`~pixel_embed.core.request.
RequestFacts`, :class:`~pixel_embed.core.request.ResponseFacts`), straight from the scope and
the ``http.response.start`` message: no Starlette ``Request`` is made, and each field is
computed when the core first reads it (most pages read few)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import TypeVar, overload
from urllib.parse import parse_qsl, quote_from_bytes

from starlette.datastructures import URL
from starlette.requests import cookie_parser
from starlette.types import Message, Scope

_Default = TypeVar("_Default")

# What a query string keeps as it is: printable ASCII but the space.
_URL_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))


class HeaderMap(Mapping[str, str]):
    """Raw ASGI headers as a mapping whose names are found in any case, the first of a
    repeated name winning (as Starlette's ``Headers`` and Werkzeug's do). Made once per
    request and response: Starlette's ``Headers`` scans and lower-cases the whole list on each
    lookup, and the core looks up a dozen names on every page (measured: ``make bench``)."""

    __slots__ = ("_values",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        values: dict[str, str] = {}
        for name, value in raw:
            values.setdefault(bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, /, default: str | _Default) -> str | _Default: ...
    def get(self, name: str, /, default: object = None) -> object:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class ScopeRequest:
    """The request of ``scope``, read lazily."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @cached_property
    def url(self) -> str:
        scope = self.scope
        query = bytes(scope.get("query_string", b""))
        if not query.isascii():
            # Starlette's URL decodes the query as UTF-8 and raises on other bytes (a client
            # may send them): percent-encoded, as Werkzeug writes such a URL.
            scope = {**scope, "query_string": quote_from_bytes(query, _URL_SAFE).encode()}
        return str(URL(scope=scope))

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @cached_property
    def raw_path(self) -> str:
        raw = self.scope.get("raw_path")
        # raw_path is optional in ASGI (and has no root_path in some servers): the decoded path.
        if not raw:
            return self.path
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")

    @cached_property
    def raw_query(self) -> str:
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")

    @property
    def endpoint(self) -> str | None:
        """The route's name (Starlette's ``name=``, by default the endpoint function's)."""
        route = self.scope.get("route")
        name = getattr(route, "name", None)
        if isinstance(name, str):
            return name
        endpoint = self.scope.get("endpoint")
        return getattr(endpoint, "__name__", None) if endpoint is not None else None

    @property
    def remote_addr(self) -> str | None:
        """The client's address as the server gives it (behind a proxy: uvicorn's
        ``--proxy-headers`` and ``--forwarded-allow-ips``)."""
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @property
    def is_secure(self) -> bool:
        return self.scope.get("scheme") in ("https", "wss")

    @cached_property
    def headers(self) -> Mapping[str, str]:
        return HeaderMap(self.scope["headers"])

    @cached_property
    def cookies(self) -> Mapping[str, str]:
        return cookie_parser(self.headers.get("cookie", ""))

    @cached_property
    def args(self) -> Mapping[str, str]:
        first: dict[str, str] = {}
        for name, value in parse_qsl(self.raw_query, keep_blank_values=True):
            first.setdefault(name, value)
        return first


class StartedResponse:
    """The response whose ``http.response.start`` message is ``message``."""

    def __init__(self, message: Message) -> None:
        self.message = message

    @property
    def status(self) -> int:
        status: int = self.message["status"]
        return status

    @property
    def mimetype(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    @property
    def streamed(self) -> bool:
        """No ``Content-Length``: the body comes in parts, made while it is sent (Starlette's
        ``StreamingResponse``); a whole body (``Response``, a template) has one."""
        return "content-length" not in self.headers and self.status not in (204, 304)

    @property
    def passthrough(self) -> bool:
        return False

    @cached_property
    def headers(self) -> Mapping[str, str]:
        return HeaderMap(self.message.get("headers", []))

    def header_items(self) -> Iterable[tuple[str, str]]:
        return [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in self.message.get("headers", [])
        ]
