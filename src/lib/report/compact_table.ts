import Table from 'cli-table3';

/**
 * The one table style of sgl's terminal reports: no colours in the frame,
 * no rules between rows; the first `textColumns` columns left-aligned, the
 * figures after them right-aligned.
 */
export function compactTable(head: string[] = [], textColumns = 1): InstanceType<typeof Table> {
  return new Table({
    ...(head.length ? { head, colAligns: head.map((_, i) => (i < textColumns ? 'left' : 'right')) } : {}),
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}
