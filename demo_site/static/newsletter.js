/* The footer's newsletter form through fetch(): no page load, the answer shown in place.
 *
 * The one pixel line: .then(pixelEmbed.fromResponse) fires the Subscribe event the view
 * tracked (from the response's PixelEmbed-Calls header). Without JavaScript, or if fetch()
 * fails, the form posts and redirects back as before.
 */
(function (w, d) {
  "use strict";
  if (!w.fetch || !w.FormData) return;
  function passOn(response) {
    return w.pixelEmbed && w.pixelEmbed.fromResponse ? w.pixelEmbed.fromResponse(response) : response;
  }
  d.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.newsletter[data-fetch]")) return;
    event.preventDefault();
    var status = form.querySelector(".newsletter-status");
    w.fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(passOn)
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (status) status.textContent = data.message || "";
        if (data.ok) form.reset();
      })
      .catch(function () { form.submit(); });
  });
})(window, document);
