/* pixel_embed's observer of TikTok's real pixel SDK, for tests and audits.
 *
 * Added to every page of a test's browser context when the kit serves TikTok's own SDK
 * (real-SDK mode). It records the calls a page makes on ttq, in the same shape as
 * pixel_embed_recorder.js, and changes nothing the SDK does: every call still reaches the
 * stub or the SDK, with the same arguments and the same return value.
 *
 *  - window.__pixelEmbedObserve(code) is called first thing by each served SDK loader
 *    (events.js?sdkid=CODE). It records ttq.load(CODE, options), the calls queued so far on
 *    ttq (once per document) and on ttq.instance(CODE), and from then on sees the calls the
 *    stub queues (their queue's push).
 *  - Once the SDK takes over, it defines ttq.page/track/identify/... as getters; the getters
 *    are wrapped as they are defined, so the function handed out records, then calls the SDK's.
 *    ttq.instance(code) hands out a view of the SDK's instance that records its method calls.
 *
 * Recorded calls: window.__pixelEmbedRecorder.calls; each also goes to the Playwright binding
 * window.__pixelEmbedReport when the page has it.
 */
(function (w) {
  "use strict";
  var METHODS = ["page", "track", "identify", "instances", "debug", "on", "off", "once", "ready",
    "alias", "group", "enableCookie", "disableCookie", "holdConsent", "revokeConsent", "grantConsent"];
  var rec = w.__pixelEmbedRecorder = w.__pixelEmbedRecorder ||
    { calls: [], loaded: [], document: String(Math.random()).slice(2) };
  var watched = [];

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
        w.__pixelEmbedReport({ pixel: pixel, method: method, args: call.args,
          url: String(w.location.href), document: rec.document });
      } catch (e) { /* the binding is gone when the page closes */ }
    }
  }

  function isCall(entry) {
    return entry && entry.length && METHODS.indexOf(entry[0]) !== -1;
  }

  // Record what a stub queue holds, then each call it queues later, leaving the queue as is.
  function watchQueue(queue, pixel) {
    if (!queue || typeof queue.push !== "function" || watched.indexOf(queue) !== -1) return;
    watched.push(queue);
    for (var i = 0; i < queue.length; i++) {
      if (isCall(queue[i])) record(pixel, queue[i][0], queue[i].slice(1));
    }
    var push = queue.push;
    queue.push = function () {
      for (var j = 0; j < arguments.length; j++) {
        if (isCall(arguments[j])) record(pixel, arguments[j][0], arguments[j].slice(1));
      }
      return push.apply(this, arguments);
    };
  }

  function ttq() {
    return w[w.TiktokAnalyticsObject || "ttq"];
  }

  // A view of an SDK instance whose methods record each call, then call the instance's own.
  var views = typeof WeakMap === "function" ? new WeakMap() : null;
  function view(instance, pixel) {
    if (!instance || typeof instance !== "object" || typeof Proxy !== "function" || !views) {
      return instance;
    }
    if (Array.isArray(instance)) return instance;  // the stub's queue, already watched
    if (views.has(instance)) return views.get(instance);
    var proxy = new Proxy(instance, {
      get: function (target, key) {
        var value = target[key];
        if (typeof value !== "function" || METHODS.indexOf(key) === -1) return value;
        return function () {
          record(pixel, key, arguments);
          var result = value.apply(target, arguments);
          return result === target ? proxy : result;
        };
      }
    });
    views.set(instance, proxy);
    return proxy;
  }

  var define = Object.defineProperty;
  function observedDefine(target, key, descriptor) {
    var root = ttq();
    if (root && target === root && descriptor && typeof descriptor.get === "function" &&
        (METHODS.indexOf(key) !== -1 || key === "instance")) {
      var get = descriptor.get;
      var copy = {};
      for (var k in descriptor) copy[k] = descriptor[k];
      copy.get = function () {
        var fn = get.apply(this, arguments);
        if (typeof fn !== "function") return fn;
        if (key === "instance") {
          return function (pixel) {
            return view(fn.apply(this, arguments), pixel);
          };
        }
        return function () {
          record(null, key, arguments);
          return fn.apply(this, arguments);
        };
      };
      return define.call(Object, target, key, copy);
    }
    return define.apply(Object, arguments);
  }
  try {
    define(observedDefine, "name", { value: "defineProperty" });
  } catch (e) { /* cosmetic only */ }
  Object.defineProperty = observedDefine;

  w.__pixelEmbedObserve = function (code) {
    try {
      var root = ttq();
      if (!root || rec.loaded.indexOf(code) !== -1) return;
      rec.loaded.push(code);
      var options = root._o && root._o[code] ? root._o[code] : {};
      record(code, "load", [code, options]);
      watchQueue(root, null);
      if (root._i) watchQueue(root._i[code], code);
    } catch (e) { /* never break the SDK */ }
  };
})(window);
