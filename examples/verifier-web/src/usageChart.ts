import uPlot from "uplot";
import type { RecordPoint } from "./checkExport.js";

const MARKS = [
  { color: "#f5c2c2", when: (p: RecordPoint) => !p.valid },
  {
    color: "#d7dde4",
    when: (p: RecordPoint) => p.flags.some((f) => f === "gap" || f === "unobserved"),
  },
  {
    color: "#ffd9a8",
    when: (p: RecordPoint) =>
      p.flags.some(
        (f) => f === "reset" || f === "rollover" || f === "replaced" || f === "ambiguous",
      ),
  },
  { color: "#fff2a8", when: (p: RecordPoint) => p.quarantined > 0 },
];

/**
 * Usage per window as steps (uPlot), with the windows behind the step shaded: invalid
 * records, gaps, register resets or rollovers, quarantined readings. The y values are
 * numbers for drawing only; the exact figures are in the table.
 */
export function drawUsageChart(
  target: HTMLElement,
  points: readonly RecordPoint[],
): uPlot | undefined {
  target.replaceChildren();
  if (points.length === 0) return undefined;
  const sorted = [...points].sort((a, b) => a.start - b.start);
  const last = sorted.at(-1)!;
  const xs = [...sorted.map((p) => p.start / 1000), last.end / 1000];
  const ys = [...sorted.map((p) => Number(p.quantity)), Number(last.quantity)];
  const shade = (u: uPlot) => {
    const { ctx } = u;
    const { top, height } = u.bbox;
    for (const p of sorted) {
      const x0 = u.valToPos(p.start / 1000, "x", true);
      const x1 = u.valToPos(p.end / 1000, "x", true);
      for (const mark of MARKS) {
        if (!mark.when(p)) continue;
        ctx.fillStyle = mark.color;
        ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
        break;
      }
    }
  };
  return new uPlot(
    {
      width: Math.min(1100, target.clientWidth || 1100),
      height: 260,
      scales: { x: { time: true } },
      axes: [{}, { label: "per window" }],
      series: [
        {},
        {
          label: "usage",
          stroke: "#1f5fa8",
          fill: "rgba(31,95,168,0.12)",
          paths: uPlot.paths.stepped!({ align: 1 }),
        },
      ],
      hooks: { drawClear: [shade] },
    },
    [xs, ys],
    target,
  );
}
