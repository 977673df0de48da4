/* pixel_embed's stand-in for TikTok's pixel SDK, for tests and audits.
 *
 * Served in place of https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=CODE&lib=ttq, it
 * keeps the SDK's side of the ttq contract without sending anything anywhere: it drains the
 * stub's queues (ttq itself and ttq._i[code]), records every call in order with its arguments,
 * then answers later calls on ttq and on ttq.instance(code) live. It makes no network request.
 *
 * Recorded calls: window.__pixelEmbedRecorder.calls, each {pixel, method, args}; pixel is the
 * code for a call through ttq.instance(code) (and for "load"), null for a call on ttq itself.
 * When the page has window.__pixelEmbedReport (a Playwright binding), each call goes there too.
 */
(function (w, d) {
  "use strict";
  var name = w.TiktokAnalyticsObject || "ttq";
  var ttq = w[name];
  if (!ttq) return;
  var script = d.currentScript;
  var match = script && /[?&]sdkid=([^&]+)/.exec(script.src);
  var code = match ? decodeURIComponent(match[1]) : null;
  var methods = ttq.methods || [];
  var rec = w.__pixelEmbedRecorder;
  if (!rec) {
    rec = w.__pixelEmbedRecorder = { calls: [], loaded: [], document: String(Math.random()).slice(2) };
  }
  if (code === null || rec.loaded.indexOf(code) !== -1) return;
  rec.loaded.push(code);

  function plain(value) {
    try {
      var text = JSON.stringify(value);
      return text === undefined ? null : JSON.parse(text);
    } catch (e) {
      return String(value);
    }
  }

  function record(pixel, method, args) {
    var call = { pixel: pixel, method: method, args: plain(Array.prototype.slice.call(args)) };
    rec.calls.push(call);
    if (typeof w.__pixelEmbedReport === "function") {
      try {
        w.__pixelEmbedReport({ pixel: pixel, method: method, args: call.args, url: String(w.location.href), document: rec.document });
      } catch (e) { /* the binding is gone when the page closes */ }
    }
    if (method === "ready") {
      for (var i = 0; i < args.length; i++) if (typeof args[i] === "function") setTimeout(args[i], 0);
    }
  }

  function drain(queue, pixel) {
    var pending = Array.prototype.slice.call(queue);
    queue.length = 0;
    for (var i = 0; i < pending.length; i++) {
      var entry = pending[i];
      if (entry && entry.length) record(pixel, entry[0], entry.slice(1));
    }
  }

  function live(target, pixel) {
    for (var i = 0; i < methods.length; i++) {
      (function (method) {
        target[method] = function () { record(pixel, method, arguments); return target; };
      })(methods[i]);
    }
    return target;
  }

  // The stub keeps ttq.load's options as n||{}: show ttq.load("CODE") as the page wrote it.
  var options = ttq._o && ttq._o[code] ? ttq._o[code] : {};
  record(code, "load", Object.keys(options).length ? [code, options] : [code]);
  if (!rec.globalLive) {
    rec.globalLive = true;
    drain(ttq, null);
    live(ttq, null);
    var stubInstance = ttq.instance;
    var instances = {};
    ttq.instance = function (pixel) {
      if (instances[pixel]) return instances[pixel];
      return stubInstance.apply(ttq, arguments);
    };
    rec.makeLive = function (pixel) {
      var queue = (ttq._i && ttq._i[pixel]) || [];
      drain(queue, pixel);
      instances[pixel] = live(queue, pixel);
    };
  }
  rec.makeLive(code);
})(window, document);
