// The Claims page ("What this book checks"): sort its table by any column, e.g. by margin.
// Each column header becomes a button; a second click reverses the order. Numbers sort as numbers
// ("∞" after every number, "tolerance" before them all), text alphabetically. Other pages: no-op.
(function () {
  "use strict";

  function sortKey(text) {
    var trimmed = text.trim();
    if (trimmed === "∞") return Infinity;
    if (trimmed === "tolerance") return -Infinity;
    var number = Number(trimmed);
    return trimmed !== "" && !Number.isNaN(number) ? number : null;
  }

  function compare(a, b) {
    if (a.key !== null && b.key !== null) return a.key - b.key;
    if (a.key !== null) return -1; // numbers before words
    if (b.key !== null) return 1;
    return a.text.localeCompare(b.text);
  }

  function makeSortable(table) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.querySelector("tbody");
    if (!headers.length || !body) return;
    headers.forEach(function (header, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "course-sort";
      button.textContent = header.textContent.trim();
      button.title = "Sort by " + button.textContent;
      header.textContent = "";
      header.appendChild(button);
      header.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var descending = header.getAttribute("aria-sort") === "ascending";
        var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
          var text = row.cells[column] ? row.cells[column].textContent : "";
          return { row: row, index: index, text: text.trim(), key: sortKey(text) };
        });
        rows.sort(function (a, b) {
          var order = compare(a, b);
          return (descending ? -order : order) || a.index - b.index;
        });
        rows.forEach(function (entry) { body.appendChild(entry.row); });
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.course-checks"), makeSortable);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
