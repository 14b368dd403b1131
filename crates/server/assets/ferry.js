// Progressive enhancement only: every page works without this file.
// An element with data-refresh="URL" has its content replaced with the HTML at URL every
// data-interval milliseconds (default 2000), until the answer carries data-final. With
// data-reload-when-final, the page is then loaded again: its actions depend on the new state.
(function () {
  function refresh(el) {
    var interval = parseInt(el.getAttribute("data-interval") || "2000", 10);
    var reload = el.hasAttribute("data-reload-when-final");
    if (reload && el.querySelector("[data-final]")) { return; }
    function tick() {
      fetch(el.getAttribute("data-refresh"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          el.innerHTML = html;
          if (!el.querySelector("[data-final]")) { setTimeout(tick, interval); }
          // Without the notice of the form that led here: it told of the state just left.
          else if (reload) { window.location.replace(window.location.pathname); }
        })
        .catch(function () { setTimeout(tick, interval * 2); });
    }
    setTimeout(tick, interval);
  }
  document.querySelectorAll("[data-refresh]").forEach(refresh);
  // Ask before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
})();
