/* pixel_embed's client for responses that do not reload the page (htmx, fetch(), fragments).
 *
 * tiktok_pixel() has its loader (pixel_embed_partial_loader.js) request it once the page is
 * parsed, with the CSP nonce, when TIKTOK_PIXEL_PARTIAL is on. The server sends the
 * identify/track calls of such a response, already validated and hashed, as a JSON array of
 * [method, [arguments...]]:
 *   - in the PixelEmbed-Calls response header: read on every htmx response (also with
 *     hx-swap="none" and on errors), and by pixelEmbed.fromResponse(response) for the site's
 *     own fetch() or XMLHttpRequest. A response that htmx swaps runs its calls once it has
 *     settled: htmx 1.x pushes the new URL in its settle step, after htmx:afterRequest (any
 *     htmx does with a swap delay), and TikTok reports an event for the page's URL then;
 *   - in <script type="application/json" data-pixel-embed-calls> from tiktok_pixel_calls():
 *     run once when it is in the page (and removed), however it got there.
 * Each track runs once per event_id. With consent "strict", calls wait for
 * pixelEmbed.grantConsent() and are dropped by revokeConsent(); with "hold", TikTok's SDK holds
 * them. Without TikTok's SDK (blocked) the ttq stub queues them; nothing here ever throws.
 * Events on document: pixelEmbed:calls {calls, source} after calls ran, pixelEmbed:held
 * {calls} when they wait for consent.
 */
(function (w, d) {
  "use strict";
  var HEADER = "PixelEmbed-Calls";
  var SELECTOR = "script[data-pixel-embed-calls]";
  // A map that has no keys but its own: an event_id "constructor" or "__proto__" is a key.
  function table(keys) {
    var map = Object.create(null);
    for (var i = 0; i < keys.length; i++) map[keys[i]] = 1;
    return map;
  }
  var has = Object.prototype.hasOwnProperty;
  var METHODS = table(["identify", "track", "forget"]);
  // The longest a swapping response's calls wait for htmx:afterSettle (which a swap that
  // leaves no element behind never sends) before they run anyway.
  var SETTLE_WAIT_MS = 2000;
  var pe = (w.pixelEmbed = w.pixelEmbed || {});
  // Included twice: the first one serves. The loader's stand-ins leave pe._early behind.
  if (typeof pe.fromResponse === "function" && !pe._early) return;
  var early = pe._early || [];
  if (pe._keep) d.removeEventListener("htmx:afterRequest", pe._keep);
  delete pe._early;
  delete pe._keep;

  var script = d.currentScript;
  function attr(name) {
    return script ? script.getAttribute(name) : null;
  }
  var consentMode = attr("data-consent") || "none";
  var debug = attr("data-debug") === "true";
  var pixels = null;
  try {
    pixels = JSON.parse(attr("data-pixels") || "null");
  } catch (e) {
    pixels = null;
  }
  var seen = table([]);
  var held = [];
  var handled = typeof WeakSet === "function" ? new WeakSet() : null;

  function emit(name, detail) {
    try {
      d.dispatchEvent(new CustomEvent(name, { detail: detail }));
    } catch (e) { /* an old browser without CustomEvent */ }
  }

  // pixel.forget() on the server (a logout): TikTok's SDK has no reset, and its identify()
  // merges into the user info it holds (and skips empty values), so that the next person
  // would be sent with the last one's fields. Its user info is emptied but for the anonymous id.
  function forget(target) {
    var context = target && target.context;
    var info = context && typeof context.getUserInfo === "function" ? context.getUserInfo() : null;
    if (!info || typeof info !== "object") return;
    for (var key in info) {
      if (key !== "anonymous_id" && Object.prototype.hasOwnProperty.call(info, key)) delete info[key];
    }
  }

  function apply(target, call) {
    if (call[0] === "forget") return forget(target);
    var method = target && target[call[0]];
    if (typeof method === "function") method.apply(target, call[1]);
  }

  function allowed(call) {
    return call instanceof Array && typeof call[0] === "string" && has.call(METHODS, call[0]) &&
      call[1] instanceof Array;
  }

  function run(calls, source) {
    var ttq = w[w.TiktokAnalyticsObject || "ttq"];
    if (!ttq) return;
    var done = [];
    for (var i = 0; i < calls.length; i++) {
      var call = calls[i];
      if (!allowed(call)) continue;
      var options = call[0] === "track" ? call[1][2] : null;
      var id = options && options.event_id;
      if (typeof id === "string" && id) {
        if (seen[id] === 1) continue;
        seen[id] = 1;
      }
      try {
        if (pixels instanceof Array) {
          for (var j = 0; j < pixels.length; j++) apply(ttq.instance(pixels[j]), call);
        } else {
          apply(ttq, call);
        }
      } catch (e) { /* TikTok's SDK failing must not break the page */ }
      done.push(call);
      if (debug && w.console) w.console.info.apply(w.console, ["[pixel_embed] ttq." + call[0]].concat(call[1]));
    }
    if (done.length) emit("pixelEmbed:calls", { calls: done, source: source });
  }

  function consent() {
    try {
      return typeof pe.consent === "function" ? pe.consent() : null;
    } catch (e) {
      return null;
    }
  }

  function accept(text, source) {
    if (!text) return;
    var calls;
    try {
      calls = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!(calls instanceof Array) || !calls.length) return;
    if (consentMode === "strict") {
      var choice = consent();
      if (choice === "denied") return;
      if (choice !== "granted") {
        held.push([calls, source]);
        emit("pixelEmbed:held", { calls: calls });
        return;
      }
    }
    run(calls, source);
  }

  // The calls a response carries, the first time it is read (null after that).
  function take(response) {
    if (!response || typeof response !== "object") return null;
    if (handled) {
      if (handled.has(response)) return null;
      handled.add(response);
    }
    if (response.headers && typeof response.headers.get === "function") {
      return response.headers.get(HEADER); // a fetch() Response
    }
    if (typeof response.getResponseHeader === "function") {
      return response.getResponseHeader(HEADER); // an XMLHttpRequest
    }
    return null;
  }

  function readHeader(response, source) {
    accept(take(response), source);
  }

  /* fetch(url).then(pixelEmbed.fromResponse).then(...): runs the response's calls, returns it. */
  pe.fromResponse = function (response) {
    try {
      readHeader(response, "fetch");
    } catch (e) { /* never break the site's promise chain */ }
    return response;
  };

  // htmx's requests by XMLHttpRequest: {swap: its htmx:beforeSwap, settled, text: its calls}.
  var requests = typeof WeakMap === "function" ? new WeakMap() : null;

  function on(name, handle) {
    d.addEventListener(name, function (event) {
      try {
        var xhr = event.detail && event.detail.xhr;
        if (xhr && typeof xhr === "object") handle(xhr, event);
      } catch (e) { /* never break htmx */ }
    });
  }

  function flush(xhr, ms) {
    setTimeout(function () {
      try {
        var known = requests.get(xhr);
        var text = known && known.text;
        if (!text) return; // run already
        known.text = null;
        accept(text, "htmx");
      } catch (e) { /* never break the page */ }
    }, ms);
  }

  function onBeforeSwap(xhr, event) {
    if (requests) requests.set(xhr, { swap: event, settled: false, text: null });
  }

  function onSettle(xhr) {
    var known = requests && requests.get(xhr);
    if (!known) return;
    known.settled = true;
    // htmx 1.x pushes the URL just after htmx:afterSettle, in the same task.
    if (known.text) flush(xhr, 0);
  }

  // Read once htmx:afterRequest comes, when every beforeSwap listener has had its say.
  function onHtmx(xhr) {
    var text = take(xhr);
    if (!text) return;
    var known = requests && requests.get(xhr);
    var swap = known && known.swap;
    if (swap && !swap.defaultPrevented && swap.detail.shouldSwap && !known.settled) {
      known.text = text;
      flush(xhr, SETTLE_WAIT_MS);
      return;
    }
    accept(text, "htmx");
  }
  on("htmx:beforeSwap", onBeforeSwap);
  on("htmx:afterSettle", onSettle);
  on("htmx:afterRequest", onHtmx);
  // What arrived before this script did, kept by the loader: in the order it came.
  for (var e = 0; e < early.length; e++) {
    try {
      readHeader(early[e][0], early[e][1]);
    } catch (err) { /* never break the page */ }
  }

  // Turbo asks the server again when its snapshot cache has no copy of the page restored, and
  // sends nothing that would tell the server so: the visit's action does.
  var restoring = false;
  d.addEventListener("turbo:visit", function (event) {
    restoring = !!(event.detail && event.detail.action === "restore");
  });
  d.addEventListener("turbo:load", function () {
    restoring = false;
  });

  function scan(root) {
    if (!root || root.nodeType !== 1) return;
    var found = root.matches && root.matches(SELECTOR) ? [root] : [];
    var inner = root.querySelectorAll ? root.querySelectorAll(SELECTOR) : [];
    for (var i = 0; i < inner.length; i++) found.push(inner[i]);
    for (var k = 0; k < found.length; k++) {
      var element = found[k];
      if (element.type !== "application/json") continue;
      var text = element.textContent;
      // Out of the page before it runs: a history snapshot taken later cannot bring it back.
      if (element.parentNode) element.parentNode.removeChild(element);
      // A Turbo preview (a preloaded or cached copy) is always followed by the fresh page,
      // whose own block runs: running the preview's too would fire its events twice. A
      // restoration visit (back, forward) draws a page the visitor saw, whose calls ran then.
      if (restoring || d.documentElement.hasAttribute("data-turbo-preview")) continue;
      accept(text, "fragment");
    }
  }
  try {
    scan(d.documentElement);
    if (typeof MutationObserver === "function") {
      new MutationObserver(function (records) {
        try {
          for (var i = 0; i < records.length; i++) {
            var added = records[i].addedNodes;
            for (var j = 0; j < added.length; j++) scan(added[j]);
          }
        } catch (e) { /* never break the page */ }
      }).observe(d.documentElement, { childList: true, subtree: true });
    }
  } catch (e) { /* never break the page */ }

  function after(name, then) {
    var original = pe[name];
    if (typeof original !== "function") return;
    pe[name] = function () {
      var result = original.apply(this, arguments);
      try {
        then();
      } catch (e) { /* never break the consent banner */ }
      return result;
    };
  }
  after("grantConsent", function () {
    var waiting = held;
    held = [];
    for (var i = 0; i < waiting.length; i++) run(waiting[i][0], waiting[i][1]);
  });
  after("revokeConsent", function () {
    held = [];
  });
})(window, document);
