/** Plain-text tables that fit a terminal width: columns shrink (cells cut with …) in a set order. */

export interface Column {
  header: string;
  /** narrowest this column may become when the table is too wide; default: its natural width */
  min?: number;
}

const GAP = '  ';

/** Visible width (no colour codes in these tables; code points, not UTF-16 units). */
function width(text: string): number {
  return [...text].length;
}

function cut(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  if (max <= 1) return chars.slice(0, max).join('');
  return `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Renders rows under their headers, every line at most `maxWidth` columns: while too wide, the
 * column with the most room above its `min` gives up width.
 */
export function renderTable(columns: Column[], rows: string[][], maxWidth = 100): string {
  const natural = columns.map((c, i) =>
    Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))),
  );
  const widths = [...natural];
  const mins = columns.map((c, i) => Math.min(c.min ?? natural[i]!, natural[i]!));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1);
  while (total() > maxWidth) {
    let pick = -1;
    for (let i = 0; i < widths.length; i++) {
      const room = widths[i]! - mins[i]!;
      if (room > 0 && (pick === -1 || room > widths[pick]! - mins[pick]!)) pick = i;
    }
    if (pick === -1) break;
    widths[pick]! -= 1;
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const text = cut(cell, widths[i]!);
        return i === cells.length - 1 ? text : text + ' '.repeat(widths[i]! - width(text));
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)]
    .map((l) => cut(l, maxWidth))
    .join('\n');
}
