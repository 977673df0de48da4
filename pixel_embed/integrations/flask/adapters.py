"""Flask's request and response as the core reads them, and the core's policy applied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Request, Response

from ...core.policy import CDN_CACHE_HEADERS, ResponsePolicy

_CDN_CACHE_NAMES = frozenset(name.lower() for name in CDN_CACHE_HEADERS)


class FlaskRequest:
    """A Flask request as a :class:`~pixel_embed.core.request.RequestFacts`: each field read
    from the request when the core asks for it, but the headers, which every page reads."""

    __slots__ = ("headers", "raw_path", "raw_query", "request")

    def __init__(self, request: Request) -> None:
        #: The Flask request.
        self.request = request
        self.headers: Mapping[str, str] = request.headers  # type: ignore[assignment]
        environ = request.environ
        self.raw_path: str = environ.get("PATH_INFO", "")
        self.raw_query: str = environ.get("QUERY_STRING", "")

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def endpoint(self) -> str | None:
        return self.request.endpoint

    @property
    def remote_addr(self) -> str | None:
        return self.request.remote_addr

    @property
    def is_secure(self) -> bool:
        return self.request.is_secure

    @property
    def cookies(self) -> Mapping[str, str]:
        return self.request.cookies

    @property
    def args(self) -> Mapping[str, str]:
        return self.request.args


class FlaskResponse:
    """A Flask response as a :class:`~pixel_embed.core.request.ResponseFacts`."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        #: The Flask response.
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def mimetype(self) -> str | None:
        return self.response.mimetype

    @property
    def streamed(self) -> bool:
        return self.response.is_streamed

    @property
    def passthrough(self) -> bool:
        return self.response.direct_passthrough

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers  # type: ignore[return-value]

    def header_items(self) -> Iterable[tuple[str, str]]:
        return self.response.headers


def apply_policy(response: Response, policy: ResponsePolicy) -> None:
    """Do to ``response`` what the core decided (see
    :class:`~pixel_embed.core.policy.ResponsePolicy`)."""
    if policy.vary:
        vary = response.vary
        for name in policy.vary:
            vary.add(name)
    headers = response.headers
    for name, value in policy.headers.items():
        headers[name] = value
    if policy.private:
        # Out of shared caches: one visitor's hashes and purchases must never be served to
        # another. One pass over the few headers: "name in headers" raises and catches an
        # exception when the name is absent, which costs more than this.
        names = {name.lower() for name, _ in headers}
        if "cache-control" not in names:
            headers.add("Cache-Control", "private")  # set() would look for it again
        else:  # keep the view's other directives (parsing them costs ~10 us)
            cache_control = response.cache_control
            cache_control.public = False
            cache_control.private = True
            cache_control.s_maxage = None
        if not names.isdisjoint(_CDN_CACHE_NAMES):
            for name in CDN_CACHE_HEADERS:
                if name.lower() in names:
                    headers[name] = "no-store"
    if policy.no_store:
        headers["Cache-Control"] = "no-store"
