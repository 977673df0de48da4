/* pixel_embed's record of the calls a page makes on ttq, shared by the recorder (which stands
 * in for TikTok's SDK) and the observer (which watches TikTok's real SDK); each is served with
 * this file in front of it.
 *
 * window.__pixelEmbedRecorder = {calls, loaded, document, record(pixel, method, args)}: calls
 * are {pixel, method, args}, args as plain JSON; each also goes to the Playwright binding
 * window.__pixelEmbedReport when the page has it. document tells one page load from another.
 */
(function (w) {
  "use strict";
  if (w.__pixelEmbedRecorder) return;
  var rec = w.__pixelEmbedRecorder = { calls: [], loaded: [], document: String(Math.random()).slice(2) };

  function plain(value) {
    try {
      var text = JSON.stringify(value);
      return text === undefined ? null : JSON.parse(text);
    } catch (e) {
      return String(value);
    }
  }

  rec.record = function (pixel, method, args) {
    var call = { pixel: pixel, method: method, args: plain(Array.prototype.slice.call(args)) };
    rec.calls.push(call);
    if (typeof w.__pixelEmbedReport === "function") {
      try {
        w.__pixelEmbedReport({ pixel: pixel, method: method, args: call.args,
          url: String(w.location.href), document: rec.document });
      } catch (e) { /* the binding is gone when the page closes */ }
    }
    return call;
  };
})(window);
