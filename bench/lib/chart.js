'use strict';
// A grouped bar chart as a hand-written SVG string: no chart library, and the file renders on
// GitHub inside the README.

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round axis maximum and tick step for values up to `max`. */
function niceScale(max, ticks = 5) {
  const raw = Math.max(max, 1) / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return { step, top: Math.ceil(Math.max(max, 1) / step) * step };
}

/**
 * @param {object} spec
 * @param {string} spec.title
 * @param {string} spec.subtitle
 * @param {string[]} spec.series   legend labels, one bar per series in each group
 * @param {{ label: string, values: (number|null)[] }[]} spec.groups   null draws "n/a"
 */
function groupedBarChart({ title, subtitle, series, groups, yLabel }) {
  const colors = ['#2f6fb0', '#e0892b', '#4a9a5b', '#9b59b6'];
  // Wide enough that two-line group labels such as "write-file-atomic" do not run into each other.
  const width = Math.max(820, 90 + groups.length * 105);
  const height = 420;
  const m = { top: 90, right: 20, bottom: 60, left: 70 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const values = groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
  const { step, top } = niceScale(Math.max(0, ...values));
  const y = (v) => m.top + plotH - (v / top) * plotH;
  const groupW = plotW / groups.length;
  const barW = Math.min(44, (groupW * 0.75) / series.length);
  const fmt = (v) => Math.round(v).toLocaleString('en-US');

  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.left}" y="26" font-size="16" font-weight="600" fill="#222">${escape(title)}</text>`);
  parts.push(`<text x="${m.left}" y="46" fill="#555">${escape(subtitle)}</text>`);
  for (let v = 0; v <= top + step / 2; v += step) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#555">${fmt(v)}</text>`);
  }
  parts.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escape(yLabel)}</text>`);
  groups.forEach((group, g) => {
    const x0 = m.left + g * groupW + (groupW - barW * series.length) / 2;
    group.values.forEach((v, s) => {
      const x = x0 + s * barW;
      if (!Number.isFinite(v)) {
        parts.push(`<text x="${x + barW / 2}" y="${y(0) - 6}" text-anchor="middle" fill="#999" font-size="10">n/a</text>`);
        return;
      }
      parts.push(`<rect x="${x + 1}" y="${y(v)}" width="${barW - 2}" height="${y(0) - y(v)}" fill="${colors[s % colors.length]}"><title>${escape(`${group.label}, ${series[s]}: ${fmt(v)}`)}</title></rect>`);
      parts.push(`<text x="${x + barW / 2}" y="${y(v) - 4}" text-anchor="middle" fill="#333" font-size="10">${fmt(v)}</text>`);
    });
    const lines = String(group.label).split('\n');
    lines.forEach((line, i) => {
      parts.push(`<text x="${m.left + g * groupW + groupW / 2}" y="${y(0) + 18 + i * 14}" text-anchor="middle" fill="#222">${escape(line)}</text>`);
    });
  });
  parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y(0)}" y2="${y(0)}" stroke="#888"/>`);
  // Legend in one row under the subtitle, where it cannot collide with the title or a bar.
  let legendX = m.left;
  series.forEach((label, s) => {
    parts.push(`<rect x="${legendX}" y="58" width="12" height="12" fill="${colors[s % colors.length]}"/>`);
    parts.push(`<text x="${legendX + 18}" y="68" fill="#333">${escape(label)}</text>`);
    legendX += 18 + label.length * 7 + 24;
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

module.exports = { groupedBarChart };
