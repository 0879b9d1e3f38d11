'use strict';
// Markdown tables and the number formats every suite shares.

/** Renders a GitHub markdown table; `align` is a string of 'l'/'r' per column. */
function markdownTable(headers, rows, align = '') {
  const cells = [headers, ...rows].map((row) => row.map((c) => String(c ?? '')));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const pad = (text, i) => (align[i] === 'r' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (row) => `| ${row.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const twoDigits = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

/** Rates and counts: thousands separators, and 3 significant digits below 100. */
function num(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Math.abs(value) >= 100 ? integer.format(value) : twoDigits.format(value);
}

function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return `${value >= 100 ? integer.format(value) : twoDigits.format(value)} ms`;
}

/**
 * `value / reference` as "0.42×". Every table compares with filekeep measured in the same
 * run, because on a shared machine absolute numbers drift between runs while ratios hold.
 */
function ratio(value, reference) {
  if (!reference || !Number.isFinite(value) || !Number.isFinite(reference)) return '–';
  const r = value / reference;
  return `${r >= 10 ? integer.format(r) : twoDigits.format(r)}×`;
}

function kib(bytes) {
  if (bytes >= 1024 * 1024) return `${twoDigits.format(bytes / 1024 / 1024)} MiB`;
  return `${twoDigits.format(bytes / 1024)} KiB`;
}

module.exports = { markdownTable, num, ms, ratio, kib };
