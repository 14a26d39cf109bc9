// Accessibility for what the saved-widget renderer draws: it gives a slider's handle no accessible name
// and a widget's figure no alt text. Names come from the widget's own label; runs again whenever the
// renderer adds elements (widgets are drawn after the page has loaded).
(function () {
  "use strict";
  function describe(root) {
    root.querySelectorAll(".noUi-handle:not([aria-label])").forEach(function (handle) {
      var widget = handle.closest(".widget-slider, .widget-hslider, .widget-inline-hbox, .jupyter-widgets");
      var label = widget && widget.querySelector(".widget-label");
      handle.setAttribute("aria-label", (label && label.textContent.trim()) || "slider");
    });
    root.querySelectorAll(".jp-RenderedImage img:not([alt]), .widget-output img:not([alt])").forEach(function (image) {
      image.setAttribute("alt", "Figure drawn by the interactive widget above for the setting it shows; the text around it describes what it plots");
    });
  }
  new MutationObserver(function () { describe(document); }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { describe(document); });
})();
