// Loaded lazily (uPlot is ~20 KB gzip): only the Credits page pays for it.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Bars of credits spent per day. `days` are "YYYY-MM-DD", oldest first. */
export default function SpendChart({
  days,
  label,
}: {
  days: { day: string; spent: number }[];
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = box.current;
    if (!node) return;
    const xs = days.map((d) => new Date(`${d.day}T12:00:00`).getTime() / 1000);
    const ys = days.map((d) => d.spent);
    const accent =
      getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#5b4bdb';
    const bars = uPlot.paths.bars?.({ size: [0.7, 24], align: 0 });
    const plot = new uPlot(
      {
        width: node.clientWidth || 300,
        height: node.clientHeight || 200,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        },
        axes: [
          { stroke: '#6b6880', grid: { show: false }, ticks: { show: false }, space: 60 },
          { stroke: '#6b6880', grid: { stroke: '#eceaf4' }, ticks: { show: false }, size: 40 },
        ],
        series: [
          {},
          { label, fill: `${accent}cc`, stroke: accent, width: 0, paths: bars, points: { show: false } },
        ],
      },
      [xs, ys],
      node,
    );
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: node.clientWidth, height: node.clientHeight }),
    );
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [days, label]);
  return <div ref={box} className="chart-box" role="img" aria-label={label} data-testid="spend-chart" />;
}
