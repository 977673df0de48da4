/* pixel_embed's stand-in for TikTok's pixel SDK, for tests and audits.
 *
 * Served in place of https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=CODE&lib=ttq, it
 * keeps the SDK's side of the ttq contract without sending anything anywhere: it drains the
 * stub's queues (ttq itself and ttq._i[code]), records every call in order with its arguments,
 * then answers later calls on ttq and on ttq.instance(code) live. It makes no network request.
 *
 * Recorded calls (served after pixel_embed_calls.js): window.__pixelEmbedRecorder.calls, each
 * {pixel, method, args}; pixel is the code for a call through ttq.instance(code) (and for
 * "load"), null for a call on ttq itself.
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
  if (!rec || code === null || rec.loaded.indexOf(code) !== -1) return;
  rec.loaded.push(code);

  function record(pixel, method, args) {
    rec.record(pixel, method, args);
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
