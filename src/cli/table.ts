/**
 * Plain-text tables that fit a terminal width: columns are shortened (cells cut with …) and then
 * dropped, in an order the caller sets; a column with neither is always printed whole.
 */

export interface Column {
  header: string;
  /** narrowest this column may be cut to when the table is too wide; absent: never cut */
  min?: number;
  /**
   * when the table is too wide, droppable columns go in ascending order of this, each one first
   * cut to its `min` (if it has one), then dropped; absent: never dropped
   */
  dropOrder?: number;
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

/** Which columns are printed (their indexes, in order) and how wide each one is. */
interface Layout {
  shown: number[];
  widths: number[];
}

function totalWidth({ shown, widths }: Layout): number {
  return shown.reduce((sum, i) => sum + widths[i]!, 0) + GAP.length * (shown.length - 1);
}

/** Takes width from `candidates` (the one with the most room above its min first) until it fits. */
function shrink(layout: Layout, candidates: number[], mins: number[], maxWidth: number): void {
  const { widths } = layout;
  while (totalWidth(layout) > maxWidth) {
    let pick = -1;
    for (const i of candidates) {
      const room = widths[i]! - mins[i]!;
      if (room > 0 && (pick === -1 || room > widths[pick]! - mins[pick]!)) pick = i;
    }
    if (pick === -1) return;
    widths[pick]! -= 1;
  }
}

/**
 * Drops columns in their drop order, cutting each one to its min before it goes, until the
 * table fits; then, if it still does not, cuts the columns that are never dropped but may be cut.
 * What is left is printed whole even when it is wider than `maxWidth`.
 */
function layOut(columns: Column[], natural: number[], maxWidth: number): Layout {
  const mins = columns.map((c, i) => Math.min(c.min ?? natural[i]!, natural[i]!));
  const dropping = columns
    .map((c, i) => ({ i, order: c.dropOrder }))
    .filter((c): c is { i: number; order: number } => c.order !== undefined)
    .sort((a, b) => a.order - b.order)
    .map((c) => c.i);
  let layout: Layout = { shown: columns.map((_, i) => i), widths: [...natural] };
  for (const next of dropping) {
    if (totalWidth(layout) <= maxWidth) return layout;
    shrink(layout, [next], mins, maxWidth);
    if (totalWidth(layout) <= maxWidth) return layout;
    layout = { shown: layout.shown.filter((i) => i !== next), widths: [...natural] };
  }
  shrink(layout, layout.shown, mins, maxWidth);
  return layout;
}

/**
 * Renders rows under their headers within `maxWidth` columns when the columns' mins and drop
 * order allow it (no limit by default).
 */
export function renderTable(
  columns: Column[],
  rows: string[][],
  maxWidth = Number.POSITIVE_INFINITY,
): string {
  const natural = columns.map((c, i) =>
    Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))),
  );
  const { shown, widths } = layOut(columns, natural, maxWidth);
  const line = (cells: string[]) =>
    shown
      .map((i, n) => {
        const text = cut(cells[i] ?? '', widths[i]!);
        return n === shown.length - 1 ? text : text + ' '.repeat(widths[i]! - width(text));
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n');
}
