// Runs before the first paint: applies the stored theme, else the system's (prefers-color-scheme).
// app.js owns the toggle; this file only avoids a flash of the wrong theme.
(function () {
  "use strict";
  var stored = null;
  try { stored = window.localStorage.getItem("musicaly-theme"); } catch (e) { /* storage disabled */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", stored === "dark" || stored === "light" ? stored : (dark ? "dark" : "light"));
})();
