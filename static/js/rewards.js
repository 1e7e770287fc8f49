// Reward store: open the native <dialog> to confirm a redemption. Without JS the Redeem
// link leads to the confirmation page, which posts the same form.
(function () {
  "use strict";
  var dialog = document.getElementById("redeem-modal");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var form = document.getElementById("redeem-form");
  var total = document.getElementById("total-coins");
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return String(Date.now()) + String(Math.random()).slice(2);
  }
  document.querySelectorAll("[data-redeem]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var price = link.getAttribute("data-price");
      var balance = total.textContent.trim();
      form.setAttribute("action", link.getAttribute("data-action"));
      form.querySelector("[name=idempotency_key]").value = newKey();
      document.getElementById("redeem-reward-name").textContent = link.getAttribute("data-name");
      document.getElementById("redeem-reward-price").textContent = "−" + price;
      // Display only; the server decides with Decimal arithmetic.
      var after = (Math.round(parseFloat(balance) * 100) - Math.round(parseFloat(price) * 100)) / 100;
      document.getElementById("redeem-after").textContent = after.toFixed(2);
      dialog.showModal();
    });
  });
  dialog.querySelectorAll("[data-close]").forEach(function (btn) {
    btn.addEventListener("click", function () { dialog.close(); });
  });
  form.addEventListener("submit", function () {
    var btn = form.querySelector("[type=submit]");
    setTimeout(function () { btn.disabled = true; }, 0);  // no double submit; the key also guards
  });
})();
