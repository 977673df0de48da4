/* pixel_embed's audit probe: an init script that runs first in every document of an audit.
 *
 * It keeps what the pixel recorder cannot see: the Content Security Policy violations of the
 * page (a blocked SDK or a blocked inline stub never reaches the recorder), the page's uncaught
 * errors with the script they came from, whether each script has run yet, and whether the page
 * is still busy (a timer about to fire, a request in flight): a page often fires its conversion
 * seconds after load, and the audit waits for it. The audit reads these facts through
 * window.__pixelEmbedAudit (facts(), quiet(), listen()).
 *
 * The wrappers around setTimeout, requestIdleCallback, fetch and XMLHttpRequest only count what
 * is pending; they pass every argument and return value through unchanged.
 */
(function (w, d) {
  "use strict";
  if (w.__pixelEmbedAudit) return;
  var audit = (w.__pixelEmbedAudit = {
    csp: [],
    errors: [],
    document: String(Math.random()).slice(2),
  });
  // TikTok's SDK loader, current (events.js) and old (sdk.js).
  var SDK = /\/i18n\/pixel\/(events|sdk)\.js/;
  var SCRIPT_TYPE = /^(|text\/javascript|application\/javascript|text\/ecmascript|module)$/i;
  // A timer further away than this does not keep the page busy: the audit would not wait so long.
  var LONGEST_TIMER_MS = 10000;
  // What one page may hand the audit, so a page cannot exhaust the auditor's memory or its
  // connection to the browser: calls beyond CALLS are counted, not sent; deeper nesting, longer
  // strings and bigger calls are cut. Every cut is counted and reported as truncated.
  var LIMITS = { calls: 500, depth: 16, items: 500, string: 65536, call: 262144, script: 1000000 };
  var cut = (audit.truncated = { calls: 0, dropped: 0, scripts: 0 });
  var now = function () { return w.performance && w.performance.now ? w.performance.now() : +new Date(); };
  var slice = Array.prototype.slice;

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

  // Uncaught errors, with the script that was running: its text when inline, its URL otherwise.
  function keep(message, source, line, column) {
    var script = d.currentScript;
    var entry = {
      message: String(message || "").replace(/^Uncaught /, "").slice(0, 1000),
      source: String(source || ""),
      line: line || 0,
      column: column || 0,
      script_src: script && script.src ? String(script.src) : null,
      script_text: script && !script.src ? String(script.textContent || "").slice(0, 100000) : null,
      url: String(w.location.href),
    };
    if (audit.errors.length >= 100) return;
    audit.errors.push(entry);
    // Also straight to the audit (a Playwright binding): the page may navigate away next.
    if (typeof w.__pixelEmbedAuditError === "function") {
      try {
        var sent = w.__pixelEmbedAuditError(audit.document, audit.errors.length - 1, entry);
        if (sent && typeof sent.catch === "function") sent.catch(function () {});
      } catch (e) { /* the binding is gone when the page closes */ }
    }
  }
  w.addEventListener("error", function (e) {
    try {
      if (e && typeof e.message === "string") keep(e.message, e.filename, e.lineno, e.colno);
    } catch (err) { /* a hostile error object: never break the page */ }
  });
  w.addEventListener("unhandledrejection", function (e) {
    try {
      var reason = e && e.reason;
      var text = reason && reason.stack ? String(reason.stack) : String(reason);
      var where = /(https?:\/\/[^\s)]+?):(\d+):(\d+)/.exec(text);
      keep(reason && reason.message ? String(reason.name || "Error") + ": " + reason.message : text,
        where ? where[1] : "", where ? +where[2] : 0, where ? +where[3] : 0);
    } catch (err) { /* a hostile rejection reason: never break the page */ }
  });

  // -- bounded reports ------------------------------------------------------------------------
  // A copy of JSON data within LIMITS; `left` is the call's remaining budget of characters.
  function bounded(value, depth, left) {
    if (typeof value === "string") {
      var room = Math.min(LIMITS.string, Math.max(left.chars, 0));
      left.chars -= Math.min(value.length, room);
      if (value.length <= room) return value;
      left.cut = true;
      return value.slice(0, room) + "\u2026[truncated: " + value.length + " characters]";
    }
    if (value === null || typeof value !== "object") {
      left.chars -= 8;
      return value;
    }
    if (depth >= LIMITS.depth) {
      left.cut = true;
      return "[truncated: nested deeper than " + LIMITS.depth + "]";
    }
    var keys = Array.isArray(value) ? null : Object.keys(value);
    var count = keys ? keys.length : value.length;
    var copy = keys ? {} : [];
    for (var i = 0; i < count; i++) {
      if (i >= LIMITS.items || left.chars <= 0) {
        left.cut = true;
        var more = "[truncated: " + (count - i) + " more]";
        if (keys) copy["\u2026"] = more;
        else copy.push(more);
        break;
      }
      var key = keys ? keys[i] : i;
      left.chars -= keys ? key.length + 4 : 2;
      copy[keys ? bounded(key, LIMITS.depth, left) : i] = bounded(value[key], depth + 1, left);
    }
    return copy;
  }

  // Whether each call sent was made live, or held in TikTok's stub until the SDK arrived (the
  // SDK replays the stub's queue in the task that records its load: calls recorded in that
  // task were queued). A page view and an identify queued together go out together; an
  // identify made live after the page view does not reach it.
  var live = (audit.live = []);
  var replaying = false;
  function note(method) {
    if (method === "load" && !replaying) {
      replaying = true;
      Promise.resolve().then(function () { replaying = false; });
    }
    live.push(!replaying);
  }

  // Wrap the recorder's Playwright binding (installed before this script): every call reaches
  // the audit within LIMITS, marked when it was cut.
  var report = w.__pixelEmbedReport;
  if (typeof report === "function") {
    w.__pixelEmbedReport = function (data) {
      if (cut.calls >= LIMITS.calls) {
        cut.dropped++;
        return Promise.resolve();
      }
      cut.calls++;
      note(data && data.method);
      var left = { chars: LIMITS.call, cut: false };
      var args = bounded(data && data.args, 0, left);
      var call = {
        pixel: bounded(data && data.pixel, 0, left),
        method: bounded(data && data.method, 0, left),
        args: Array.isArray(args) ? args : [],
        url: bounded(String(data && data.url), 0, { chars: 8192, cut: false }),
        document: data && data.document,
      };
      return report(call);
    };
  }

  // The recorder's report of the page's inline scripts, within the same limits.
  var reportScripts = w.__pixelEmbedScripts;
  if (typeof reportScripts === "function") {
    w.__pixelEmbedScripts = function (url, texts) {
      var kept = [];
      for (var i = 0; texts && i < texts.length && i < LIMITS.items; i++) {
        kept.push(String(texts[i]).slice(0, LIMITS.script));
      }
      return reportScripts(String(url).slice(0, 8192), kept);
    };
  }

  // -- what keeps the page busy ---------------------------------------------------------------
  var timers = {};
  var pendingTimers = 0;
  var inflight = 0;
  var idle = 0;

  function forget(id) {
    if (timers[id]) {
      delete timers[id];
      pendingTimers--;
    }
  }

  var nativeSetTimeout = w.setTimeout;
  var nativeClearTimeout = w.clearTimeout;
  var nativeClearInterval = w.clearInterval;
  w.setTimeout = function (callback, delay) {
    var args = slice.call(arguments);
    if (typeof callback !== "function") return nativeSetTimeout.apply(w, args);
    var id;
    args[0] = function () {
      forget(id);
      return callback.apply(this, arguments);
    };
    id = nativeSetTimeout.apply(w, args);
    if (!(Number(delay) > LONGEST_TIMER_MS) && !timers[id]) {
      timers[id] = true;
      pendingTimers++;
    }
    return id;
  };
  w.clearTimeout = function (id) {
    forget(id);
    return nativeClearTimeout.apply(w, arguments);
  };
  w.clearInterval = function (id) {
    forget(id);
    return nativeClearInterval.apply(w, arguments);
  };

  if (typeof w.requestIdleCallback === "function") {
    var nativeIdle = w.requestIdleCallback;
    var nativeCancelIdle = w.cancelIdleCallback;
    var idles = {};
    w.requestIdleCallback = function (callback) {
      var args = slice.call(arguments);
      if (typeof callback !== "function") return nativeIdle.apply(w, args);
      var id;
      args[0] = function () {
        if (idles[id]) { delete idles[id]; idle--; }
        return callback.apply(this, arguments);
      };
      id = nativeIdle.apply(w, args);
      idles[id] = true;
      idle++;
      return id;
    };
    w.cancelIdleCallback = function (id) {
      if (idles[id]) { delete idles[id]; idle--; }
      return nativeCancelIdle.apply(w, arguments);
    };
  }

  if (typeof w.fetch === "function") {
    var nativeFetch = w.fetch;
    w.fetch = function () {
      var settled = function () { inflight--; };
      inflight++;
      var answer;
      try {
        answer = nativeFetch.apply(w, arguments);
      } catch (e) {
        inflight--;
        throw e;
      }
      if (answer && typeof answer.then === "function") answer.then(settled, settled);
      else inflight--;
      return answer;
    };
  }

  if (w.XMLHttpRequest && w.XMLHttpRequest.prototype) {
    var nativeSend = w.XMLHttpRequest.prototype.send;
    w.XMLHttpRequest.prototype.send = function () {
      var xhr = this;
      var counted = true;
      inflight++;
      xhr.addEventListener("loadend", function () {
        if (counted) { counted = false; inflight--; }
      });
      try {
        return nativeSend.apply(xhr, arguments);
      } catch (e) {
        if (counted) { counted = false; inflight--; }
        throw e;
      }
    };
  }

  function isScript(s) {
    return SCRIPT_TYPE.test(s.type || "") && !s.noModule;
  }

  // How many ttq calls the page has made: those the recorder saw, and those still queued in
  // TikTok's stub (ttq itself and each ttq._i[code]) for an SDK that has not run yet.
  function activity() {
    var rec = w.__pixelEmbedRecorder;
    var count = rec ? rec.calls.length : 0;
    var ttq = w[w.TiktokAnalyticsObject || "ttq"];
    if (ttq && typeof ttq.length === "number") count += ttq.length;
    if (ttq && ttq._i && typeof ttq._i === "object") {
      for (var code in ttq._i) {
        if (Object.prototype.hasOwnProperty.call(ttq._i, code) && ttq._i[code]) {
          count += ttq._i[code].length || 0;
        }
      }
    }
    return count;
  }

  function busy() {
    if (d.readyState !== "complete" || pendingTimers > 0 || inflight > 0 || idle > 0) return true;
    var scripts = d.querySelectorAll("script[src]");
    for (var i = 0; i < scripts.length; i++) {
      if (isScript(scripts[i]) && !scripts[i].__pixelEmbedDone) return true;
    }
    return false;
  }

  var lastCount = -1;
  var lastChange = now();

  // Start listening afresh (after a step): quiet() waits a full quiet period from here.
  audit.listen = function () {
    lastChange = now();
  };

  // Whether the page is quiet: nothing pending, and no new ttq call for `ms` milliseconds.
  audit.quiet = function (ms) {
    var count = activity();
    if (count !== lastCount) {
      lastCount = count;
      lastChange = now();
    }
    return !busy() && now() - lastChange >= ms;
  };

  audit.facts = function () {
    var scripts = slice.call(d.scripts);
    var inline = [];
    var sdk = [];
    var external = [];
    for (var i = 0; i < scripts.length; i++) {
      var s = scripts[i];
      if (s.src) {
        if (SDK.test(s.src)) sdk.push(s.src);
        else if (isScript(s)) external.push(s.src);
      } else if (SCRIPT_TYPE.test(s.type || "")) {
        var text = s.textContent || "";
        if (inline.length >= LIMITS.items) cut.scripts++;
        else if (text.length > LIMITS.script) {
          cut.scripts++;
          inline.push(text.slice(0, LIMITS.script));
        } else inline.push(text);
      }
    }
    var rec = w.__pixelEmbedRecorder;
    var api = w.pixelEmbed;
    return {
      url: String(w.location.href),
      referrer: String(d.referrer || "").slice(0, 8192),
      document: audit.document,
      recorder_document: rec ? rec.document : null,
      calls: rec ? rec.calls.length : 0,
      inline_scripts: inline,
      sdk_scripts: sdk,
      external_scripts: external,
      errors: audit.errors.slice(),
      csp: audit.csp.slice(),
      has_ttq: typeof w[w.TiktokAnalyticsObject || "ttq"] !== "undefined",
      consent_api: !!(api && typeof api.grantConsent === "function"),
      truncated: { calls: cut.calls, dropped: cut.dropped, scripts: cut.scripts },
      live: live.slice(),
    };
  };
})(window, document);
