/* pixel_embed's loader for pixel_embed_partial.js, inlined after the pixel's script.
 *
 * A script a page requests while it loads holds up DOMContentLoaded until it has arrived (a
 * defer script) or competes with those that do. This one requests the client script once the
 * document is parsed, after DOMContentLoaded's listeners rather than among them (starting a
 * fetch takes the main thread a moment, which would count in DOMContentLoaded), so a first
 * visit's DOMContentLoaded does not wait on it. Until it runs, the htmx responses and the
 * fetch() responses handed to pixelEmbed.fromResponse are kept here, and the client script
 * reads their calls first. The tag's data-src is the script's URL; its other data- attributes
 * and its nonce go to the script. Only this comment is left out of the page.
 */
(function (w, d, s) {
  var pe = (w.pixelEmbed = w.pixelEmbed || {});
  if (pe.fromResponse) return;
  var early = (pe._early = []);
  function keep(event) {
    early.push([event.detail && event.detail.xhr, "htmx"]);
  }
  pe._keep = keep;
  d.addEventListener("htmx:afterRequest", keep);
  pe.fromResponse = function (response) {
    early.push([response, "fetch"]);
    return response;
  };
  function load() {
    var script = d.createElement("script");
    for (var i = 0; i < s.attributes.length; i++) {
      var a = s.attributes[i];
      if (a.name.indexOf("data-") === 0 && a.name !== "data-src") script.setAttribute(a.name, a.value);
    }
    script.nonce = s.nonce;
    script.src = s.getAttribute("data-src");
    d.head.appendChild(script);
  }
  function later() {
    setTimeout(load, 0);
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", later);
  else later();
})(window, document, document.currentScript);
