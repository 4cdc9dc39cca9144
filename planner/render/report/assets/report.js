// llmplan report: the one script of each page, inline, optional. Without it everything is
// still there to read; with it, the posture matrix can be filtered, and printing opens
// every collapsed table first.
(function () {
  "use strict";
  var filter = document.getElementById("model-filter");
  if (filter) {
    var only = document.getElementById("only-differences");
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-model]"));
    var count = document.getElementById("filter-count");
    var update = function () {
      var text = filter.value.trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (row) {
        var visible = row.getAttribute("data-model").indexOf(text) !== -1 && (!only.checked || row.hasAttribute("data-differs"));
        row.hidden = !visible;
        shown += visible ? 1 : 0;
      });
      count.textContent = shown + " of " + rows.length + " models shown";
    };
    filter.addEventListener("input", update);
    only.addEventListener("change", update);
    document.getElementById("filters").hidden = false;
    update();
  }
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (details) {
      details.open = true;
    });
  });
})();
