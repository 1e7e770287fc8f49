// Keeps the change form's preview (core.admin.PreviewAdmin) up to date while staff type: posts
// the form with "_preview" (which never saves) and shows the preview the server rendered.
// Without JavaScript the Preview button does the same.
(function () {
  "use strict";
  const button = document.querySelector("input[name=_preview]");
  const form = button && button.form;
  if (!form) return;
  let timer = null;
  let latest = 0;

  async function refresh() {
    const asked = ++latest;
    const data = new FormData(form);
    data.append("_preview", "1");
    const response = await fetch(form.action || window.location.href, { method: "POST", body: data, credentials: "same-origin" });
    if (!response.ok || asked !== latest) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("preview");
    const shown = document.getElementById("preview");
    if (fresh && shown) shown.replaceWith(fresh);
    else if (fresh) form.querySelector("input[name=csrfmiddlewaretoken]").after(fresh);
    else if (shown) shown.remove(); // what was typed does not validate yet: no preview
  }

  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { refresh().catch(function () {}); }, 400);
  });
})();
