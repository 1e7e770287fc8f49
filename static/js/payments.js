// Payments: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";

  // Copy buttons (hidden until JS can actually copy).
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    if (!navigator.clipboard) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var el = document.querySelector(btn.getAttribute("data-copy"));
      if (!el) return;
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        var label = btn.textContent;
        btn.textContent = btn.getAttribute("data-copied") || "✓";
        setTimeout(function () { btn.textContent = label; }, 1500);
      });
    });
  });

  // Checkout: countdown and live status (the page reloads itself when the status changes).
  var box = document.getElementById("checkout");
  if (box) {
    // The server rendered the time left and the deadline; this only ticks them (h:mm:ss).
    var countdown = document.getElementById("countdown");
    var timer = document.getElementById("pay-timer");
    var bar = document.getElementById("pay-timebar");
    var expires = box.dataset.expires ? new Date(box.dataset.expires) : null;
    if (countdown && expires) {
      var total = timer ? parseInt(timer.getAttribute("data-total"), 10) : 0;
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      var tick = function () {
        var left = Math.max(0, Math.floor((expires - new Date()) / 1000));
        var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
        countdown.textContent = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
        if (bar && total > 0) {
          var pct = Math.round(100 * left / total);
          bar.style.width = pct + "%";
          bar.parentNode.setAttribute("aria-valuenow", String(pct));
          bar.parentNode.classList.toggle("low", pct < 20);
        }
      };
      tick();
      setInterval(tick, 1000);
    }
    var open = ["pending", "confirming"].indexOf(box.dataset.status) !== -1;
    if (open) {
      var poll = function () {
        fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (!data) return;
            if (data.status !== box.dataset.status) { window.location.reload(); return; }
            var detail = document.getElementById("pay-detail");
            if (detail && data.status_detail) detail.textContent = data.status_detail;
            var confirms = document.getElementById("pay-confirms");
            if (confirms) confirms.textContent = data.confirmations;
          })
          .catch(function () { /* try again on the next tick */ });
      };
      setInterval(poll, 4000);
    }
  }

  // Wallet connection with a browser wallet (EIP-1193 + personal_sign); the manual form stays.
  var walletBtn = document.getElementById("browser-wallet");
  if (walletBtn && window.ethereum) {
    walletBtn.hidden = false;
    var status = document.getElementById("wallet-js-status");
    var form = document.getElementById("link-form");
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    walletBtn.addEventListener("click", function () {
      var account;
      status.textContent = status.getAttribute("data-asking");
      window.ethereum.request({ method: "eth_requestAccounts" })
        .then(function (accounts) {
          account = accounts[0];
          var body = new URLSearchParams({ action: "challenge", csrfmiddlewaretoken: csrf });
          return fetch(window.location.pathname, {
            method: "POST", credentials: "same-origin", body: body,
            headers: { Accept: "application/json", "X-CSRFToken": csrf },
          });
        })
        .then(function (r) { return r.json(); })
        .then(function (challenge) {
          status.textContent = status.getAttribute("data-sign");
          return window.ethereum.request({ method: "personal_sign", params: [challenge.message, account] });
        })
        .then(function (signature) {
          form.querySelector("[name=wallet_address]").value = account;
          form.querySelector("[name=signature]").value = signature;
          form.submit();
        })
        .catch(function (err) {
          status.textContent = status.getAttribute("data-refused") + (err && err.message ? " (" + err.message + ")" : "");
        });
    });
  }
})();
