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
        file.arrayBuffer().then(function (buffer) {
          var bytes = new Uint8Array(buffer);
          var text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
          if (text.indexOf("-----BEGIN") >= 0) { target.value = text; return; }
          // DER: wrap it as PEM (RFC 7468) for the form.
          var binary = "";
          bytes.forEach(function (b) { binary += String.fromCharCode(b); });
          var b64 = btoa(binary).replace(/(.{64})/g, "$1\n");
          target.value = "-----BEGIN CERTIFICATE-----\n" + b64 + "\n-----END CERTIFICATE-----\n";
        });
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
