// The dashboard's charts (uPlot, served by the dashboard itself from the installed package).
// Input: the snapshot's `charts` (DashboardCharts in chartSeries.ts): times in Unix ms,
// values as exact decimal strings — converted to numbers here, for drawing only.
(() => {
  const plots = {};
  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const sec = (ms) => ms / 1000;
  const width = (el) => Math.max(300, Math.min(el.clientWidth || 560, 1200));

  /** Horizontal lines at `levels` ([{ value, label, color }]) on scale `scale`. */
  const levelLines = (levels, scale) => (u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.setLineDash([6, 4]);
    ctx.textAlign = "right";
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    for (const l of levels()) {
      const y = u.valToPos(l.value, scale, true);
      if (!Number.isFinite(y) || y < bbox.top || y > bbox.top + bbox.height) continue;
      ctx.strokeStyle = l.color;
      ctx.fillStyle = l.color;
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
      ctx.fillText(l.label, bbox.left + bbox.width - 4, y - 4);
    }
    ctx.restore();
  };

  function plot(id, opts, data) {
    const el = document.getElementById(id);
    if (!el) return;
    if (data[0].length === 0) return;
    if (plots[id]) {
      plots[id].setData(data);
      return;
    }
    el.replaceChildren();
    plots[id] = new uPlot({ width: width(el), height: 220, ...opts }, data, el);
  }

  let tierLevels = [];
  let thresholdLevel = [];

  function render(c) {
    if (!c) return;
    // 1. flow and delivered volume over time
    const times = [...new Set([...c.flow.map((p) => p[0]), ...c.volume.map((p) => p[0])])].sort(
      (a, b) => a - b,
    );
    const flowAt = new Map(c.flow.map((p) => [p[0], num(p[1])]));
    const volAt = new Map(c.volume.map((p) => [p[0], num(p[1])]));
    plot(
      "chartFlow",
      {
        scales: { x: { time: true }, m3: {} },
        axes: [
          {},
          { label: c.flowUnit === "G53" ? "flow m³/min" : `flow ${c.flowUnit ?? ""}` },
          { scale: "m3", side: 1, label: "delivered m³", grid: { show: false } },
        ],
        series: [
          {},
          { label: "flow", stroke: "#1f5fa8", spanGaps: true },
          { label: "delivered m³", stroke: "#0a7d32", scale: "m3", spanGaps: true },
        ],
      },
      [
        times.map(sec),
        times.map((t) => flowAt.get(t) ?? null),
        times.map((t) => volAt.get(t) ?? null),
      ],
    );
    // 2. usage against the tariff's tiers, and the invoice building up through the period
    if (c.period) {
      tierLevels = c.period.tierBounds.map((b) => ({
        value: num(b.usage),
        label: `${b.label} (${b.usage} ${c.period.unit === "MTQ" ? "m³" : c.period.unit})`,
        color: "#b5651d",
      }));
      const p = c.period.points;
      plot(
        "chartPeriod",
        {
          scales: { x: { time: true }, money: {} },
          axes: [
            {},
            { label: "usage m³" },
            {
              scale: "money",
              side: 1,
              label: `invoice ${c.period.currency}`,
              grid: { show: false },
            },
          ],
          series: [
            {},
            { label: "usage this period", stroke: "#1f5fa8", fill: "rgba(31,95,168,0.10)" },
            { label: `invoice ${c.period.currency}`, stroke: "#7b2cbf", scale: "money" },
          ],
          hooks: { draw: [levelLines(() => tierLevels, "y")] },
        },
        [p.map((x) => sec(x[0])), p.map((x) => num(x[1])), p.map((x) => num(x[2]))],
      );
    }
    // 3. OEE per window
    plot(
      "chartOee",
      {
        scales: { x: { time: true }, y: { range: [0, 100] } },
        axes: [{}, { label: "%" }],
        series: [
          {},
          { label: "availability", stroke: "#1f5fa8" },
          { label: "effectiveness", stroke: "#0a7d32" },
          { label: "quality", stroke: "#b5651d" },
          { label: "OEE", stroke: "#c0262d", width: 2 },
        ],
      },
      [
        c.oee.map((x) => sec(x[0])),
        ...[1, 2, 3, 4].map((i) => c.oee.map((x) => (x[i] === null ? null : num(x[i]) * 100))),
      ],
    );
    // 4. filter differential pressure against its threshold
    thresholdLevel =
      c.filterThreshold === undefined
        ? []
        : [
            {
              value: num(c.filterThreshold),
              label: `threshold ${c.filterThreshold} bar`,
              color: "#c0262d",
            },
          ];
    plot(
      "chartFilter",
      {
        scales: {
          x: { time: true },
          y: {
            range: (_u, _min, max) => [0, Math.max(max, num(c.filterThreshold ?? 0)) * 1.2 || 1],
          },
        },
        axes: [{}, { label: "bar" }],
        series: [{}, { label: "filter Δp", stroke: "#5a6675" }],
        hooks: { draw: [levelLines(() => thresholdLevel, "y")] },
      },
      [c.filterDp.map((x) => sec(x[0])), c.filterDp.map((x) => num(x[1]))],
    );
  }

  window.maaskitCharts = { render, plots };
})();
