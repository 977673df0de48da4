"""The framework-free core: what every integration (Flask, Django, Starlette) drives.

Nothing under :mod:`pixel_embed.core` imports a web framework. An integration adapts its
framework's request, session, response and configuration to the few shapes below, and applies
what the core returns. Module by module:

:mod:`pixel_embed.core.config`
    :class:`~.config.PixelConfig`, frozen: every ``TIKTOK_PIXEL_*`` setting (page, consent,
    CSP, partial pages, Events API, queues, Segment), read and checked once by
    ``PixelConfig.from_mapping(mapping)`` from any ``Mapping[str, Any]`` (Flask's
    ``app.config``, a dict of Django's upper-case settings, a Starlette dict). A bad value
    raises :class:`~pixel_embed.errors.ConfigurationError` naming the key and the value's
    problem. :data:`~.config.DEFAULTS` maps every key to its default (Flask ``setdefault``\\ s
    them into ``app.config``). Fields: ``pixel`` (a :class:`~pixel_embed.render.PixelSettings`,
    ``None`` while ``TIKTOK_PIXEL_ENABLED`` is false), ``region``, ``strict``,
    ``internal_networks``, ``identity_max_age``, ``partial``, ``mappings`` (Segment),
    ``events_api`` (an :class:`~.config.EventsApiConfig`, ``None`` without an access token),
    and ``on_error(error)`` (strict: raise; lenient: log and drop).

:mod:`pixel_embed.core.request`
    :class:`~.request.RequestFacts`, a :class:`typing.Protocol`: what the core reads of a
    request, each read only when needed (attributes may be properties): ``method``, ``url``,
    ``path`` (for messages), ``raw_path`` and ``raw_query`` (undecoded, for the URL screen),
    ``endpoint`` (the route's name, or ``None``), ``remote_addr``, ``is_secure``,
    ``header(name)``, ``cookie(name)`` and ``arg(name)`` (each ``str | None``).
    :class:`~.request.ResponseFacts`, likewise for the response the after-request step looks
    at: ``status``, ``mimetype``, ``streamed``, ``passthrough`` (a file), ``header(name)``,
    ``header_items()``.

:mod:`pixel_embed.core.state`
    :class:`~.state.RequestState`: one request's queued calls (``events``, ``deferred``,
    ``server_events``), ``identity`` and ``defer_identity``, what the page showed, the nonce
    used, consent read once, flags (``rendered``, ``private``, ``once_sent``, ...), the
    :class:`~.state.AppSetup` it belongs to (config, server events, partial support) and the
    integration's own object in ``native`` (Flask: the app; Django: the request).

:mod:`pixel_embed.core.view`
    :class:`~.view.PixelCore`, the view API every integration's pixel inherits: ``track``,
    ``identify``, ``forget``, ``page_calls``, ``consent``, ``csp_sources``, ``render`` (the
    page's HTML), ``fragment`` (pending calls for inserted HTML), ``segment`` (the Segment
    adapter), and ``finish(state, response) -> ResponsePolicy`` (the after-request step).
    An integration subclass implements three public hooks:

    - ``request_state(caller) -> RequestState``: this request's state, made on first use with
      ``self.new_state(setup, request, native)`` and kept where the framework keeps
      per-request data (Flask: the request object; Starlette: the scope / a context
      variable; Django: the ``HttpRequest``). Outside a request it raises
      ``self.no_request(caller)``.
    - ``session(state, *, write) -> MutableMapping[str, Any] | None``: the visitor's session
      (any mutable mapping of JSON-able values). ``write=False``: ``None`` when nothing can
      be saved there (no session cookie: do not touch the session, or caches get
      ``Vary: Cookie``). ``write=True``: ``None`` when the site has no session at all (the
      core then raises ``ConfigurationError`` ending with ``self.session_hint``).
    - ``partial_script_url(state) -> str``: where the partial-pages client script is served.

:mod:`pixel_embed.core.deferred`
    :class:`~.deferred.DeferredStore` over any mutable mapping (the session): events and
    identity carried to the next page under ``SESSION_KEY`` (``"_tiktok_pixel"``) within
    ``MAX_DEFERRED`` events and ``MAX_DEFERRED_BYTES``, the ``once`` keys, siblings within
    ``SIBLING_SESSION_BYTES``, ``forget``. Methods: ``peek``, ``pop``, ``save``, ``forget``,
    ``first_time``.

:mod:`pixel_embed.core.policy`
    Request tests (``is_prefetch``, ``is_history_restore``, ``request_kind``) and
    :class:`~.policy.ResponsePolicy`, the data ``finish`` returns: ``private`` (drop
    ``public``/``s-maxage``, add ``private``; CDN cache headers in ``CDN_CACHE_HEADERS``
    become ``no-store``), ``no_store`` (``Cache-Control: no-store``), ``vary`` (names to add
    to ``Vary``), ``headers`` (to set: the partial-page header). ``finish`` also warns (the
    CSP check, events never rendered, an identity lost) and hands server events to the
    sender. ``apply_cache_control(headers, policy)`` is the reference implementation
    over a plain header list.

Integrations live in :mod:`pixel_embed.integrations` (``flask``; ``django`` and ``starlette``
next); each only adapts config loading, the request, the session and the response.
"""
