/* The consent banner and the footer's privacy choices, wired to pixel_embed's page API.
 *
 * window.pixelEmbed (rendered by the pixel when TIKTOK_PIXEL_CONSENT is "hold" or "strict"):
 *   grantConsent()  remember "granted"; hold: ttq.grantConsent(); strict: load the SDK now
 *   revokeConsent() remember "denied";  ttq.revokeConsent() once the SDK is there
 *   consent()       "granted", "denied" or null
 * No inline handlers: the page may run under a strict Content-Security-Policy.
 */
(function (w, d) {
  "use strict";
  var labels = { granted: "allowed", denied: "declined" };

  function show() {
    var status = d.getElementById("consent-status");
    if (status && w.pixelEmbed) status.textContent = labels[w.pixelEmbed.consent()] || "not chosen yet";
  }

  d.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-consent]");
    if (!button || !w.pixelEmbed) return;
    if (button.getAttribute("data-consent") === "grant") w.pixelEmbed.grantConsent();
    else w.pixelEmbed.revokeConsent();
    var banner = d.getElementById("consent-banner");
    if (banner) banner.hidden = true;
    show();
  });
  show();
})(window, document);
