/* Follow a report run: poll its small JSON status until it is finished, then reload to show the summary. */
(function () {
  "use strict";
  var section = document.getElementById("progress-section");
  if (!section || section.dataset.finished === "1") return;
  var bar = document.getElementById("report-progress");
  var text = document.getElementById("report-progress-text");
  var url = section.dataset.statusUrl;
  var INTERVAL_MS = 1000;

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (status) {
        bar.value = status.progress;
        bar.textContent = status.progress + "%";
        text.textContent = status.progress + "% · " + status.status + (status.stage ? " (" + status.stage + ")" : "");
        if (status.finished) { window.location.reload(); return; }
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function (error) {
        text.textContent = "Could not read the run's status (" + error.message + "); retrying…";
        window.setTimeout(poll, INTERVAL_MS * 3);
      });
  }
  window.setTimeout(poll, INTERVAL_MS);
})();
