/* pixel_embed's audit probe: an init script that runs first in every document of an audit.
 *
 * It keeps what the pixel recorder cannot see: the Content Security Policy violations of the
 * page (a blocked SDK or a blocked inline stub never reaches the recorder), and whether each SDK
 * script has run yet. The audit reads them, with the page's other facts (its inline scripts, the
 * SDK scripts it inserted, pixel_embed's consent API), through window.__pixelEmbedAudit.facts().
 */
(function (w, d) {
  "use strict";
  if (w.__pixelEmbedAudit) return;
  var audit = (w.__pixelEmbedAudit = { csp: [], document: String(Math.random()).slice(2) });
  var SDK = "/i18n/pixel/events.js";
  var SCRIPT_TYPE = /^(|text\/javascript|application\/javascript|text\/ecmascript|module)$/i;

  // A script element is done once it has loaded or failed (a CSP block fails it too).
  function done(e) {
    if (e.target && e.target.tagName === "SCRIPT") e.target.__pixelEmbedDone = true;
  }
  d.addEventListener("load", done, true);
  d.addEventListener("error", done, true);

  d.addEventListener(
    "securitypolicyviolation",
    function (e) {
      audit.csp.push({
        blocked: String(e.blockedURI || ""),
        directive: String(e.effectiveDirective || e.violatedDirective || ""),
        disposition: String(e.disposition || "enforce"),
        source: String(e.sourceFile || ""),
        line: e.lineNumber || 0,
      });
    },
    true
  );

  // Whether every SDK script the page asked for has run (or failed): its calls are recorded.
  audit.settled = function () {
    var scripts = d.querySelectorAll("script[src]");
    for (var i = 0; i < scripts.length; i++) {
      if (scripts[i].src.indexOf(SDK) !== -1 && !scripts[i].__pixelEmbedDone) return false;
    }
    return true;
  };

  audit.facts = function () {
    var scripts = Array.prototype.slice.call(d.scripts);
    var inline = [];
    var sdk = [];
    for (var i = 0; i < scripts.length; i++) {
      var s = scripts[i];
      if (s.src) {
        if (s.src.indexOf(SDK) !== -1) sdk.push(s.src);
      } else if (SCRIPT_TYPE.test(s.type || "")) {
        inline.push(s.textContent || "");
      }
    }
    var rec = w.__pixelEmbedRecorder;
    var api = w.pixelEmbed;
    return {
      url: String(w.location.href),
      document: audit.document,
      recorder_document: rec ? rec.document : null,
      calls: rec ? rec.calls.length : 0,
      inline_scripts: inline,
      sdk_scripts: sdk,
      csp: audit.csp.slice(),
      has_ttq: typeof w[w.TiktokAnalyticsObject || "ttq"] !== "undefined",
      consent_api: !!(api && typeof api.grantConsent === "function"),
    };
  };
})(window, document);
