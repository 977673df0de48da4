"""Browser code the QA kit (:mod:`pixel_embed.testing`) and the audit (:mod:`pixel_embed.audit`)
share: finding a Chromium, answering TikTok's hosts in a Playwright browser context, and reading
back what the page did. No module here imports pytest, and none imports Playwright until a
browser or a page is used, so importing the kit or the audit costs neither.

:mod:`~pixel_embed.browser.chromium`
    :func:`~.chromium.find_chromium`: Playwright's own Chromium, else the system's
    (``python -m pixel_embed.browser.chromium`` says which).
:mod:`~pixel_embed.browser.hosts`
    TikTok's hosts and this machine's.
:mod:`~pixel_embed.browser.recorder`
    :func:`~.recorder.install_recorder`: routes a context's requests (TikTok's SDK URL gets the
    recorder, TikTok's real SDK or an ad blocker's refusal; other outside hosts are aborted)
    and keeps what its pages did in a :class:`~.recorder.PixelRecorder`.
:mod:`~pixel_embed.browser.calls`
    :class:`~.calls.RecordedCall`, one ``ttq`` call, and :func:`~.calls.format_calls`.
:mod:`~pixel_embed.browser.wire`
    :class:`~.wire.WireEvent`, one beacon TikTok's real SDK sent, and
    :func:`~.wire.format_wire`.
:mod:`~pixel_embed.browser.sdk`
    The local copy of TikTok's SDK: finding it, serving it, reading it, pulling one.
:mod:`~pixel_embed.browser.violations`
    Content Security Policy violations of a recorded context, and which concern TikTok.
:mod:`~pixel_embed.browser.pii`
    Raw personal data in scripts, calls and beacons.

Users import these through :mod:`pixel_embed.testing`; the paths here may change.
"""
