"""What the core reads of a request and of a response, as protocols an integration fills.

The names follow Werkzeug's (Flask's request nearly is a :class:`RequestFacts`), so an adapter
for another framework is a few properties. Each is read only where needed, and most pages need
few: an adapter should compute a field when it is read, not when it is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class RequestFacts(Protocol):
    """A request, as the core reads it."""

    @property
    def method(self) -> str:
        """``GET``, ``POST``..."""

    @property
    def url(self) -> str:
        """The full URL the browser asked for (scheme, host, path, query)."""

    @property
    def path(self) -> str:
        """The decoded path, for messages."""

    @property
    def raw_path(self) -> str:
        """The path as it came (percent-escapes kept), for the personal-data screen."""

    @property
    def raw_query(self) -> str:
        """The query string as it came (without ``?``)."""

    @property
    def endpoint(self) -> str | None:
        """The name of the route that answers, for warnings shown once per route."""

    @property
    def remote_addr(self) -> str | None:
        """The client's address, as the site's proxy set-up resolves it."""

    @property
    def is_secure(self) -> bool:
        """Whether the request came over HTTPS."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers; ``get`` must find a name in any case."""

    @property
    def cookies(self) -> Mapping[str, str]:
        """The request's cookies."""

    @property
    def args(self) -> Mapping[str, str]:
        """The query arguments (the first value of each)."""


class ResponseFacts(Protocol):
    """A response, as the core's after-request step reads it."""

    @property
    def status(self) -> int:
        """The status code."""

    @property
    def mimetype(self) -> str | None:
        """The content type without its parameters (``text/html``)."""

    @property
    def streamed(self) -> bool:
        """Whether the body is produced while it is sent (the page may render later)."""

    @property
    def passthrough(self) -> bool:
        """Whether the body is a file passed through as it is (a download)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers; ``get`` must find a name in any case."""

    def header_items(self) -> Iterable[tuple[str, str]]:
        """Every header as (name, value) pairs, repeated names included."""
