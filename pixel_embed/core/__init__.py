"""The framework-free core: what every integration (Flask, Django, Starlette) drives.

Nothing under :mod:`pixel_embed.core` imports a web framework. An integration adapts its
framework's request, session, response and configuration to the few shapes below, and applies
what the core returns (see the Architecture page of the docs). Module by module:

:mod:`pixel_embed.core.config`
    :class:`~.config.PixelConfig`, frozen: every ``TIKTOK_PIXEL_*`` setting (page, consent,
    CSP, partial pages, Events API, queues, Segment), read and checked once by
    ``PixelConfig.from_mapping(mapping)`` from any ``Mapping[str, Any]`` (Flask's
    ``app.config``, a dict of Django's upper-case settings, a Starlette dict). A bad value
    raises :class:`~pixel_embed.errors.ConfigurationError` naming the key and the value's
    problem. :data:`~.config.DEFAULTS` maps every key to its default (absent keys take it;
    Flask ``setdefault``\\ s them into ``app.config``). Fields: ``pixel`` (a
    :class:`~pixel_embed.render.PixelSettings`, ``None`` while ``TIKTOK_PIXEL_ENABLED`` is
    false), ``region``, ``strict``, ``internal_networks``, ``identity_max_age``, ``partial``,
    ``mappings`` (Segment's, loaded), ``server_events``, ``events_api`` (an
    :class:`~.config.EventsApiConfig`, ``None`` without an access token; ``.client()``), and
    ``on_error(error)`` (strict: raise; lenient: log and drop).

:mod:`pixel_embed.core.request`
    :class:`~.request.RequestFacts`, a :class:`typing.Protocol` named as Werkzeug names things
    (Flask's request nearly is one): ``method``, ``url``, ``path`` (decoded, for messages),
    ``raw_path`` and ``raw_query`` (as they came, for the URL screen), ``endpoint`` (the
    route's name, or ``None``), ``remote_addr``, ``is_secure``, and the mappings ``headers``
    (``get`` in any case), ``cookies`` and ``args``. Read lazily: make them properties.
    :class:`~.request.ResponseFacts`, for the response the end of the request looks at:
    ``status``, ``mimetype``, ``streamed``, ``passthrough`` (a file), ``headers``,
    ``header_items()``.

:mod:`pixel_embed.core.state`
    :class:`~.state.AppSetup` (one site: its ``config``, ``server_events``, ``partial``;
    ``AppSetup.build``) and :class:`~.state.RequestState` (one request: ``events``,
    ``deferred``, ``server_events``, ``identity``, ``defer_identity``, ``shown``, ``nonce``,
    flags such as ``rendered``, ``private``, ``once_sent``, ``responded``; the integration's
    own object in ``native``).

:mod:`pixel_embed.core.view`
    :class:`~.view.PixelCore`, the view API every integration's pixel inherits: ``track``,
    ``identify``, ``forget``, ``page_calls``, ``consent``, ``csp_sources``, ``render`` (the
    page's HTML, :mod:`.page`), ``fragment`` (pending calls for inserted HTML), ``segment``
    (the Segment adapter), and ``finish(state, response) -> ResponsePolicy`` (the end of the
    request, :mod:`.finish`). For integrations: ``setup(config, instance_path=...,
    start_waiting=...) -> AppSetup``, ``new_state(setup, request, native)``,
    ``no_request(caller)``, ``consent_of(config, cookies)``. An integration subclass
    implements the public hooks:

    - ``request_state(caller) -> RequestState``: this request's state, made on first use with
      ``self.new_state(...)`` and kept where the framework keeps per-request data (Flask: the
      request object; Starlette: the scope; Django: the ``HttpRequest``). Outside a request
      it raises ``self.no_request(caller)``.
    - ``session(state, *, write) -> MutableMapping[str, Any] | None``: the visitor's session
      (any mutable mapping of JSON values). ``write=True``: ``None`` only when the site has
      no session at all (``defer`` and ``once`` then raise ``ConfigurationError`` ending with
      the class attribute ``session_hint``). ``write=False`` (the take-out on every page):
      also ``None`` when the browser sent no session cookie, so that the session is not
      touched (Flask would add ``Vary: Cookie``).
    - ``partial_script_url(state) -> str``: where the integration serves
      :data:`pixel_embed.partial.SCRIPT` (with ``?v=`` :data:`~pixel_embed.partial.SCRIPT_VERSION`).
    - ``current_nonce(state) -> str | None`` (optional): the framework's usual CSP nonce.

:mod:`pixel_embed.core.deferred`
    :class:`~.deferred.DeferredStore` over any mutable mapping (the session): events and
    identity carried to the next page under ``SESSION_KEY`` (``"_tiktok_pixel"``) within
    ``MAX_DEFERRED`` events and ``MAX_DEFERRED_BYTES``, the ``once`` keys, siblings within
    ``SIBLING_SESSION_BYTES``, ``forget``. Methods: ``peek``, ``pop``, ``save``, ``forget``,
    ``once_keys``, ``remember_once``.

:mod:`pixel_embed.core.policy`
    Request tests (``is_prefetch``, ``is_history_restore``, ``request_kind``) and
    :class:`~.policy.ResponsePolicy`, the data ``finish`` returns: ``private`` (drop
    ``public``/``s-maxage``, add ``private``; each of ``CDN_CACHE_HEADERS`` present becomes
    ``no-store``), ``no_store`` (then ``Cache-Control: no-store``), ``vary`` (names to add to
    ``Vary``), ``headers`` (to set: the partial-page calls). ``policy.header_changes(headers)``
    turns it into the header values to set on a response that has ``headers`` (for
    frameworks without Werkzeug's parsers). ``finish`` itself
    warns (the CSP check, events never rendered, an identity lost) and hands server events to
    the sender.

Integrations live in :mod:`pixel_embed.integrations` (``flask``; ``django`` and ``starlette``
next); each only adapts config loading, the request, the session and the response.
"""
