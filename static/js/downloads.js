/* Downloads: progressive enhancement only. Without JS the catalog form posts as is and the job
   page refreshes itself (<noscript> meta refresh). */
(function () {
  "use strict";

  // Catalog: count the ticked songs and show what they will cost.
  var form = document.getElementById("job-form");
  if (form) {
    var count = document.getElementById("pick-count");
    var total = document.getElementById("pick-total");
    var places = 2;
    var update = function () {
      var boxes = form.querySelectorAll('input[name="item_ids"]:checked');
      var minor = 0;
      boxes.forEach(function (b) { minor += parseInt(b.getAttribute("data-price") || "0", 10); });
      if (count) count.textContent = String(boxes.length);
      if (total) total.textContent = boxes.length ? (total.getAttribute("data-up-to") || "up to") + " " + (minor / Math.pow(10, places)).toFixed(places) : "";
    };
    form.addEventListener("change", update);
    update();
  }

  // Job page: poll the same-origin status endpoint until the job finishes.
  var job = document.getElementById("job");
  if (!job) return;
  var url = job.getAttribute("data-status-url");
  var finished = function (s) { return s === "completed" || s === "failed"; };
  if (finished(job.getAttribute("data-status"))) return;

  var bar = document.querySelector("#job-progress > span");
  var progress = document.getElementById("job-progress");
  var statusEl = document.getElementById("job-status");
  var message = document.getElementById("job-message");
  var labels = { queued: "Queued", running: "Running", completed: "Completed", failed: "Failed" };
  var delay = 700;

  var render = function (d) {
    var pct = d.percent || 0;
    bar.style.width = pct + "%";
    progress.setAttribute("aria-valuenow", String(pct));
    statusEl.textContent = statusEl.getAttribute("data-label-" + d.status) || labels[d.status] || d.status;
    statusEl.className = "badge " + (d.status === "completed" ? "badge-green" : d.status === "failed" ? "badge-red" : "badge-gold");
    message.textContent = d.message;
    if (d.status === "completed") {
      document.getElementById("job-ready").hidden = false;
      document.getElementById("job-download").href = d.download_url;
      document.getElementById("job-charged").textContent = d.credits_charged;
      document.getElementById("job-delivered").textContent = d.songs_delivered + " " + (statusEl.getAttribute("data-songs-delivered") || "songs delivered");
      var balance = document.getElementById("header-balance");
      if (balance && d.credits_available) balance.textContent = d.credits_available;
    } else if (d.status === "failed") {
      document.getElementById("job-failed").hidden = false;
      document.getElementById("job-error").textContent = d.message;
    }
  };

  var poll = function () {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (d) {
        render(d);
        if (!finished(d.status)) { delay = Math.min(delay * 1.3, 4000); setTimeout(poll, delay); }
      })
      .catch(function () { delay = Math.min(delay * 2, 8000); setTimeout(poll, delay); });
  };
  setTimeout(poll, 300);
})();
