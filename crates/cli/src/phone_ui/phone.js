// Keeps the phone page current without a reload button: asks /state.json every second and
// reloads the page when the phone's state has changed (locked, unlocked, a new notice,
// another language). Without JavaScript the page still works: its forms post and redirect.
(function () {
  "use strict";
  var screen = document.getElementById("screen");
  if (!screen || !window.fetch) {
    return;
  }
  var version = screen.getAttribute("data-version");
  function later() {
    window.setTimeout(poll, 1000);
  }
  function poll() {
    window.fetch("/state.json", { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (state && String(state.version) !== version) {
          window.location.replace("/");
          return;
        }
        later();
      })
      .catch(later);
  }
  later();
})();
