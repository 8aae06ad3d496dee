// Loaded lazily (uPlot is ~20 KB gzip): only the Credits page pays for it.
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Bumps whenever the palette may have changed: the theme switch (data-theme on <html>) or the system scheme. */
function usePaletteVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = () => setVersion((v) => v + 1);
    const observer = new MutationObserver(bump);
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    const scheme = window.matchMedia?.('(prefers-color-scheme: dark)');
    scheme?.addEventListener('change', bump);
    return () => {
      observer.disconnect();
      scheme?.removeEventListener('change', bump);
    };
  }, []);
  return version;
}

/**
 * Bars of credits spent per day. `days` are "YYYY-MM-DD", oldest first; `label` is the chart in words (its
 * text alternative: the figures, not just the title). The canvas takes its colours from the
 * theme's CSS variables (labels in --muted, ≥ 4.5:1 on the card in both themes) and is redrawn when they change.
 */
export default function SpendChart({
  days,
  label,
}: {
  days: { day: string; spent: number }[];
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const palette = usePaletteVersion();
  useEffect(() => {
    const node = box.current;
    if (!node) return;
    const xs = days.map((d) => new Date(`${d.day}T12:00:00`).getTime() / 1000);
    const ys = days.map((d) => d.spent);
    const style = getComputedStyle(document.documentElement);
    const color = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
    const accent = color('--accent', '#5b4bdb');
    const ink = color('--muted', '#6b6880');
    const grid = color('--border', '#e3e0ef');
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
          { stroke: ink, grid: { show: false }, ticks: { show: false }, space: 60 },
          { stroke: ink, grid: { stroke: grid }, ticks: { show: false }, size: 40 },
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
  }, [days, label, palette]);
  return <div ref={box} className="chart-box" role="img" aria-label={label} data-testid="spend-chart" />;
}
