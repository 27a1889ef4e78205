/* FanOps: small progressive enhancements (copy buttons). Pages work without this file. */
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function flash(button, ok) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = ok ? (button.dataset.copied || "✓") : (button.dataset.failed || "×");
    button.classList.toggle("copied", ok);
    setTimeout(function () { button.textContent = original; button.classList.remove("copied"); }, 1600);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { flash(button, true); },
        function () { flash(button, fallbackCopy(text)); }
      );
    } else {
      flash(button, fallbackCopy(text));
    }
  });
})();
