/* Visit form enhancements: live BPI interference score, opioid rows added/removed in place,
   MME/day per row and the visit total (OMED). The conversion table is rendered into the page
   from trials.domain.mme (CDC 2022), so there is one source of the factors. Without JavaScript
   the form still submits and the server computes everything. */
(function () {
  "use strict";
  var form = document.getElementById("visit-form");
  if (!form) return;
  var config = JSON.parse(document.getElementById("mme-table").textContent);
  var PREFIX = "med";

  function num(value) {
    if (value === null || value === undefined || String(value).trim() === "") return null;
    var n = Number(value);
    return isFinite(n) ? n : NaN;
  }
  function fmt(n) {
    return (Math.round(n * 100) / 100).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  /* BPI interference: mean of answered items when at least 4 of 7 are answered (docs/domain.md §3). */
  var interferenceInputs = form.querySelectorAll("input[data-interference]");
  var interferenceOut = document.getElementById("interference-score");
  function updateInterference() {
    var answered = [];
    interferenceInputs.forEach(function (input) {
      var v = num(input.value);
      if (v !== null && !isNaN(v)) answered.push(v);
    });
    if (answered.length < config.minInterferenceAnswered) {
      interferenceOut.textContent = "missing (" + answered.length + " of 7 answered; needs " + config.minInterferenceAnswered + ")";
      return;
    }
    var sum = answered.reduce(function (a, b) { return a + b; }, 0);
    interferenceOut.textContent = fmt(sum / answered.length) + " (" + answered.length + " of 7 answered)";
  }
  interferenceInputs.forEach(function (input) { input.addEventListener("input", updateInterference); });
  updateInterference();

  /* MME/day of one row (docs/domain.md §5): daily dose × factor; for a fentanyl patch (mcg/h) "doses per day" is the
     number of patches worn at once (a whole number), so the rate is mcg/h × patches, as the server computes it. */
  function field(row, name) { return row.querySelector("[name$='-" + name + "']"); }
  function rowMME(row) {
    var drug = field(row, "drug").value, route = field(row, "route").value, unit = field(row, "unit").value;
    var dose = num(field(row, "dose").value), perDay = num(field(row, "doses_per_day").value);
    var explicit = num(field(row, "mme_factor").value);
    if (!drug && dose === null) return { empty: true };
    if (dose === null || isNaN(dose) || dose <= 0) return { error: "enter a positive dose" };
    if (perDay !== null && (isNaN(perDay) || perDay <= 0)) return { error: "doses per day must be positive" };
    if (unit === "mcg/h" && perDay !== null && perDay !== Math.round(perDay)) return { error: "patches worn at once: a whole number" };
    var factor, source;
    if (explicit !== null && !isNaN(explicit)) {
      factor = explicit; source = "explicit";
    } else {
      var conv = config.drugs[drug];
      if (!conv || conv.route !== route) {
        return { error: "needs an explicit factor", guidance: (config.guidance[drug] || {})[route] };
      }
      if (conv.unit !== unit) return { error: drug + " doses must be in " + conv.unit };
      factor = Number(conv.factor); source = config.version;
    }
    var daily = dose * (perDay === null ? 1 : perDay);
    return { value: daily * factor, factor: factor, source: source };
  }

  var rowsBody = document.getElementById("med-rows");
  var totalOut = document.getElementById("mme-total");
  var totalForms = form.querySelector("input[name='" + PREFIX + "-TOTAL_FORMS']");
  var statusInputs = form.querySelectorAll("input[name='opioid_status']");
  var opioidFieldset = document.getElementById("opioid-rows");

  function selectedStatus() {
    var checked = form.querySelector("input[name='opioid_status']:checked");
    return checked ? checked.value : "";
  }
  function updateTotal() {
    var status = selectedStatus();
    if (status === "none") { totalOut.textContent = "0 (no opioids)"; return; }
    if (status !== "taking") { totalOut.textContent = "not recorded"; return; }
    var total = 0, problems = 0, counted = 0;
    rowsBody.querySelectorAll("tr.med-row").forEach(function (row) {
      var result = rowMME(row), out = row.querySelector(".row-mme");
      var factorOut = row.querySelector(".row-factor"), guidance = row.querySelector(".row-guidance");
      // The server's message beside the row already says the same after a failed save.
      guidance.hidden = !result.guidance || !!row.querySelector(".field-error");
      guidance.textContent = result.guidance || "";
      factorOut.textContent = result.factor ? "× " + fmt(result.factor) + " (" + result.source + ")" : "—";
      if (result.empty) { out.textContent = "—"; return; }
      if (result.error) { out.textContent = result.error; out.classList.add("fail"); problems += 1; return; }
      out.classList.remove("fail");
      out.textContent = fmt(result.value);
      total += result.value; counted += 1;
    });
    totalOut.textContent = fmt(total) + " MME/day" + (problems ? " (" + problems + " row(s) with a problem not counted)" : "");
  }

  function showOpioidRows() {
    var taking = selectedStatus() === "taking";
    opioidFieldset.hidden = !taking;
    opioidFieldset.disabled = !taking;  // hidden rows are not submitted
    updateTotal();
  }

  function renumber() {
    var rows = rowsBody.querySelectorAll("tr.med-row");
    rows.forEach(function (row, index) {
      row.querySelectorAll("[name], [id], [for]").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) el.setAttribute(attr, v.replace(new RegExp(PREFIX + "-(\\d+|__prefix__)-"), PREFIX + "-" + index + "-"));
        });
      });
      var caption = row.querySelector(".row-number");
      if (caption) caption.textContent = String(index + 1);
      var remove = row.querySelector(".remove-med");
      if (remove) remove.setAttribute("aria-label", "Remove opioid row " + (index + 1));
    });
    totalForms.value = String(rows.length);
  }

  function addRow() {
    var template = document.getElementById("med-row-template");
    var fragment = template.content.cloneNode(true);
    rowsBody.appendChild(fragment);
    var taking = form.querySelector("input[name='opioid_status'][value='taking']");
    if (taking && !taking.checked) { taking.checked = true; }
    renumber();
    showOpioidRows();
    var rows = rowsBody.querySelectorAll("tr.med-row");
    field(rows[rows.length - 1], "drug").focus();
  }

  rowsBody.addEventListener("click", function (event) {
    var button = event.target.closest(".remove-med");
    if (!button) return;
    var row = button.closest("tr.med-row");
    row.parentNode.removeChild(row);
    renumber();
    updateTotal();
    document.getElementById("add-med").focus();
  });
  rowsBody.addEventListener("change", function (event) {
    if (event.target.name && /-drug$/.test(event.target.name)) {
      var conv = config.drugs[event.target.value], row = event.target.closest("tr.med-row");
      if (conv) { field(row, "route").value = conv.route; field(row, "unit").value = conv.unit; }
    }
    updateTotal();
  });
  rowsBody.addEventListener("input", updateTotal);
  document.getElementById("add-med").addEventListener("click", addRow);
  statusInputs.forEach(function (input) { input.addEventListener("change", showOpioidRows); });
  showOpioidRows();

  /* Out-of-window dates: warn as soon as the date is typed; the server asks for an explicit confirmation. */
  var windowInfo = document.getElementById("visit-window"), dateInput = form.querySelector("input[name='visit_date']");
  var warning = document.getElementById("window-warning"), confirmation = document.getElementById("window-confirmation");
  function checkWindow() {
    var value = dateInput.value, outside = value && (value < windowInfo.dataset.start || value > windowInfo.dataset.end);
    // After a refused save the server's message beside the date says it already.
    warning.hidden = !outside || !!document.querySelector("#field-visit_date .field-error");
    if (outside) confirmation.hidden = false;
  }
  dateInput.addEventListener("change", checkWindow);
  dateInput.addEventListener("input", checkWindow);
  checkWindow();
})();
