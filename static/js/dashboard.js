/* Store dashboard charts (Chart.js, vendored). The tables beside them carry the same numbers. */
(function () {
  "use strict";
  var node = document.getElementById("dashboard-data");
  if (!node || typeof Chart === "undefined") return;
  var data = JSON.parse(node.textContent);
  var common = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } };

  var quota = document.getElementById("quota-chart");
  if (quota) {
    new Chart(quota, {
      type: "bar",
      data: {
        labels: data.quota.labels,
        datasets: [
          { label: data.quota.names.target, data: data.quota.target, backgroundColor: data.quota.colors.target },
          { label: data.quota.names.actual, data: data.quota.actual, backgroundColor: data.quota.colors.actual }
        ]
      },
      options: Object.assign({}, common, { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } })
    });
  }
  var palette = ["#c0392b", "#e67e22", "#f1c40f", "#27ae60", "#16a085", "#2980b9", "#8e44ad", "#7f8c8d"];
  var segment = document.getElementById("segment-chart");
  if (segment) {
    new Chart(segment, {
      type: "doughnut",
      data: { labels: data.segments.labels, datasets: [{ data: data.segments.values, backgroundColor: palette }] },
      options: Object.assign({}, common, { plugins: { legend: { position: "right", labels: { boxWidth: 12 } } } })
    });
  }
  var stage = document.getElementById("stage-chart");
  if (stage) {
    new Chart(stage, {
      type: "bar",
      data: { labels: data.stages.labels, datasets: [{ data: data.stages.values, backgroundColor: ["#2e7d32", "#b26a00", "#b00020", "#757575"] }] },
      options: Object.assign({}, common, { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } })
    });
  }
  var risk = document.getElementById("at-risk-chart");
  if (risk && data.at_risk) {
    new Chart(risk, {
      type: "bar",
      data: { labels: data.at_risk.labels, datasets: [
        { label: data.at_risk.names.at_risk, data: data.at_risk.at_risk, backgroundColor: "#b00020" },
        { label: data.at_risk.names.due_soon, data: data.at_risk.due_soon, backgroundColor: "#2e7d32" }
      ] },
      options: Object.assign({}, common, { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } })
    });
  }
  var board = document.getElementById("leaderboard-chart");
  if (board && data.leaderboard) {
    new Chart(board, {
      type: "bar",
      data: { labels: data.leaderboard.labels, datasets: [{ label: data.leaderboard.name, data: data.leaderboard.values, backgroundColor: "#c0392b" }] },
      options: Object.assign({}, common, { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } })
    });
  }
})();
