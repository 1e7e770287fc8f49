// Progressive enhancement for the sign-in / register modal: links marked data-auth-open open
// the <dialog> on the right tab instead of navigating; without JS they are plain page links.
(function () {
  "use strict";
  var modal = document.getElementById("auth-modal");
  if (!modal || typeof modal.showModal !== "function") return;

  function selectTab(name) {
    modal.querySelectorAll("[role=tab]").forEach(function (tab) {
      var on = tab.dataset.authTab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    });
    var panel = document.getElementById("auth-panel-" + name);
    var first = panel && panel.querySelector("input:not([type=hidden])");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-auth-open]");
    if (opener) {
      event.preventDefault();
      if (!modal.open) modal.showModal();
      selectTab(opener.dataset.authOpen);
      return;
    }
    var tab = event.target.closest("#auth-modal [data-auth-tab]");
    if (tab) {
      event.preventDefault();
      selectTab(tab.dataset.authTab);
    }
  });

  // Arrow keys move between tabs (WAI-ARIA tabs pattern).
  modal.querySelector("[role=tablist]").addEventListener("keydown", function (event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    var tabs = Array.prototype.slice.call(modal.querySelectorAll("[role=tab]"));
    var i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    var next = tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    selectTab(next.dataset.authTab);
    next.focus();
  });

  // A click on the backdrop (outside the dialog box) closes it.
  modal.addEventListener("click", function (event) {
    if (event.target === modal) modal.close();
  });
})();
