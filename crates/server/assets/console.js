// The console's only script: keeps a device page's status current without a reload.
// Everything works without it; it polls the page's own JSON (same origin, no inline code).
"use strict";
(function () {
  var box = document.querySelector("[data-live]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-live");
  var fields = ["lender-state", "policy-level", "overdue", "last-seen"];
  function apply(s) {
    var badge = document.getElementById("device-state");
    if (badge && badge.getAttribute("data-state") !== s.state_key) {
      badge.textContent = s.state;
      badge.className = "badge " + s.state_class;
      badge.setAttribute("data-state", s.state_key);
    }
    fields.forEach(function (id) {
      var el = document.getElementById(id);
      var key = id.replace("-", "_");
      if (el && typeof s[key] === "string" && el.textContent !== s[key]) { el.textContent = s[key]; }
    });
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { apply(s); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
