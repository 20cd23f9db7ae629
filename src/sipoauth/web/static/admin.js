// sipoauth administration: small progressive enhancements (the pages work without them).
"use strict";
(function () {
  // R9: "Enable OAuth Authentication" only with Encrypted + TLS. A hint; the server keeps the rule.
  function oauthRule() {
    var box = document.querySelector("[data-oauth-checkbox]");
    var mode = document.querySelector("[data-oauth-mode]");
    var transport = document.querySelector("[data-oauth-transport]");
    if (!box || !mode || !transport) return;
    var digest = document.getElementById("f-digest");
    var tftp = document.getElementById("f-tftp_encrypted");
    function update() {
      var allowed = mode.value === mode.getAttribute("data-oauth-mode") &&
                    transport.value === transport.getAttribute("data-oauth-transport");
      box.disabled = !allowed;
      if (!allowed) box.checked = false;
      [digest, tftp].forEach(function (other) {
        if (!other) return;
        other.disabled = box.checked;
        if (box.checked) other.checked = false;
      });
    }
    [mode, transport, box].forEach(function (el) { el.addEventListener("change", update); });
    update();
  }
  // Certificate upload: read a chosen file into the PEM text area (no multipart needed).
  function fileToText() {
    document.querySelectorAll("input[type=file][data-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-into"));
        var file = input.files && input.files[0];
        if (!target || !file) return;
        file.text().then(function (text) { target.value = text; });
      });
    });
  }
  // Find forms: changing "rows per page" searches again.
  function rowsSubmit() {
    var rows = document.getElementById("find-rows");
    if (rows && rows.form) rows.addEventListener("change", function () { rows.form.submit(); });
  }
  // Live pages (registrations): reload every N seconds while the box is checked.
  function autoRefresh() {
    var box = document.querySelector("[data-refresh]");
    if (!box) return;
    var seconds = parseInt(box.getAttribute("data-refresh"), 10) || 5;
    var key = "sipoauth-refresh:" + location.pathname;
    if (sessionStorage.getItem(key) === "off") box.checked = false;
    box.addEventListener("change", function () { sessionStorage.setItem(key, box.checked ? "on" : "off"); });
    setInterval(function () { if (box.checked) location.reload(); }, seconds * 1000);
  }
  // A drop-down marked data-autosubmit submits its form when changed.
  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    oauthRule(); fileToText(); rowsSubmit(); autoRefresh(); autoSubmit();
  });
})();
