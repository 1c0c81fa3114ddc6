// The measures of success dashboard: key figures, charts (Chart.js, loaded as a classic script
// that sets window.Chart) and the workload table for a date range. All figures come from
// /api/measures/; this module only draws them.
import { ApiError, createApi } from "./api.js";
import { clear, el } from "./dom.js";

const config = JSON.parse(document.getElementById("measures-config").textContent);
const api = createApi(config);
const Chart = window.Chart;

const COLORS = {
  incidents: "#3b6ea5",
  assisted: "#30d158",
  engagement: "#3b9eff",
  ack: "#ff9f0a",
  confirmed: "#30d158",
  falsePositive: "#ff453a",
  unknown: "#8193a8",
  workload: ["#3b9eff", "#ff9f0a", "#30d158", "#bf5af2"],
  kinds: ["#30d158", "#3b9eff", "#ff9f0a", "#bf5af2", "#ff375f", "#64d2ff", "#ffd60a", "#636a74"],
};
const WORKLOAD = [
  ["stream_opens", "Stream opens"],
  ["acknowledgements", "Acknowledgements"],
  ["assists", "Assists"],
  ["searches", "Searches"],
];

const charts = new Map();
const form = document.getElementById("ms-range");
const note = document.getElementById("ms-note");
const csvLink = document.getElementById("ms-csv");

function minutes(seconds) {
  return seconds === null || seconds === undefined ? null : Math.round((seconds / 60) * 10) / 10;
}

function formatMinutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const m = seconds / 60;
  return m < 90 ? `${m.toFixed(1)} min` : `${(m / 60).toFixed(1)} h`;
}

function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 1000) / 10}%`;
}

function tile(label, value, sub, key) {
  return el("div", { className: "ms-tile", dataset: { measure: key } }, [
    el("div", { className: "ms-tile-label", text: label }),
    el("div", { className: "ms-tile-value mono", text: value }),
    sub ? el("div", { className: "ms-tile-sub", text: sub }) : null,
  ]);
}

function renderTiles(data) {
  const { incidents, engagement, camera_views: views, hotlist_hits: hits, alerts } = data;
  clear(document.getElementById("ms-tiles")).append(
    tile("Incidents", String(incidents.total), `${data.from} – ${data.to}`, "incidents"),
    tile("RTCC-assisted", String(incidents.assisted), `${percent(incidents.assisted_share)} of incidents`, "assisted"),
    tile("Call to engagement", formatMinutes(engagement.p50_s),
      `median · p90 ${formatMinutes(engagement.p90_s)} · ${engagement.engaged} engaged`, "engagement"),
    tile("Camera views", String(views.views),
      `${views.per_viewed_incident ?? "–"} per viewed incident · ${views.incidents_viewed} incidents`, "camera_views"),
    tile("Hotlist hits", `${hits.confirmed} / ${hits.false_positive}`,
      `confirmed / false · ${hits.unknown} unknown · ${hits.open} open`, "hotlist_hits"),
    tile("Alerts acknowledged", `${alerts.acknowledged} / ${alerts.total}`,
      `p50 ${formatMinutes(alerts.ack_p50_s)} · p90 ${formatMinutes(alerts.ack_p90_s)}`, "alerts"),
  );
}

function draw(id, spec) {
  const old = charts.get(id);
  if (old) old.destroy();
  const canvas = document.getElementById(id);
  charts.set(id, new Chart(canvas, {
    ...spec,
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { labels: { boxWidth: 12 } } },
      ...(spec.options || {}),
    },
  }));
}

function renderCharts(data) {
  const labels = data.series.map((row) => row.bucket);
  const series = (key) => data.series.map((row) => row[key]);
  draw("chart-assisted", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Incidents", data: series("incidents"), backgroundColor: COLORS.incidents },
        { label: "RTCC-assisted", data: series("assisted"), backgroundColor: COLORS.assisted },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const kinds = data.incidents.by_kind;
  draw("chart-kinds", {
    type: "bar",
    data: {
      labels: kinds.map((k) => k.label),
      datasets: [{
        label: "Incidents",
        data: kinds.map((k) => k.incidents),
        backgroundColor: kinds.map((_, i) => COLORS.kinds[i % COLORS.kinds.length]),
      }],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  draw("chart-times", {
    type: "line",
    data: {
      labels,
      datasets: [
        {
          label: "Call to engagement (median min)",
          data: data.series.map((row) => minutes(row.engagement_p50_s)),
          borderColor: COLORS.engagement,
          backgroundColor: COLORS.engagement,
          spanGaps: true,
        },
        {
          label: "Alert to acknowledgement (median min)",
          data: data.series.map((row) => minutes(row.ack_p50_s)),
          borderColor: COLORS.ack,
          backgroundColor: COLORS.ack,
          spanGaps: true,
        },
      ],
    },
    options: { scales: { y: { beginAtZero: true } } },
  });
  draw("chart-hits", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Confirmed", data: series("hotlist_confirmed"), backgroundColor: COLORS.confirmed },
        { label: "False positive", data: series("hotlist_false_positive"), backgroundColor: COLORS.falsePositive },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const shifts = data.workload.by_shift;
  draw("chart-workload", {
    type: "bar",
    data: {
      labels: shifts.map((s) => {
        const window = data.shifts.find((w) => w.name === s.shift);
        return window ? `${s.shift} (${window.start}–${window.end})` : s.shift;
      }),
      datasets: WORKLOAD.map(([key, label], i) => ({
        label,
        data: shifts.map((s) => s[key]),
        backgroundColor: COLORS.workload[i],
      })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function renderWorkload(data) {
  const table = clear(document.getElementById("ms-workload"));
  const head = el("tr", {}, [
    el("th", { text: "Operator" }),
    el("th", { text: "Shift" }),
    ...WORKLOAD.map(([, label]) => el("th", { className: "num", text: label })),
    el("th", { className: "num", text: "Total" }),
  ]);
  const rows = data.workload.by_operator.map((row) => el("tr", {}, [
    el("td", { text: row.username || "(system)" }),
    el("td", { text: row.shift }),
    ...WORKLOAD.map(([key]) => el("td", { className: "num mono", text: row[key] })),
    el("td", { className: "num mono", text: row.total }),
  ]));
  if (rows.length === 0) {
    rows.push(el("tr", {}, [el("td", { className: "ms-empty", text: "No operator activity in this period.", attrs: { colspan: 7 } })]));
  }
  table.append(el("thead", {}, [head]), el("tbody", {}, rows));
}

function params() {
  return {
    from: document.getElementById("ms-from").value,
    to: document.getElementById("ms-to").value,
    bucket: document.getElementById("ms-bucket").value,
  };
}

async function load() {
  const query = params();
  document.documentElement.dataset.measuresState = "loading";
  note.textContent = "Loading…";
  try {
    const data = await api.getJSON("measures/", query);
    renderTiles(data);
    renderCharts(data);
    renderWorkload(data);
    note.textContent = `${data.time_zone} · by ${data.bucket}`;
    const csv = new URL(config.csvUrl, window.location.origin);
    for (const [key, value] of Object.entries(query)) csv.searchParams.set(key, value);
    csvLink.href = csv.pathname + csv.search;
    document.documentElement.dataset.measuresState = "ready";
  } catch (error) {
    note.textContent = error instanceof ApiError ? `Could not load: ${error.detail || error.message}` : "Could not load.";
    document.documentElement.dataset.measuresState = "error";
  }
}

if (Chart) {
  Chart.defaults.color = "#8193a8";
  Chart.defaults.borderColor = "#1f2c3b";
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = new URL(window.location.href);
  for (const [key, value] of Object.entries(params())) url.searchParams.set(key, value);
  window.history.replaceState(null, "", url);
  load();
});

load();
