/**
 * Indexed binary min-heap of armed timers ordered by (deadline, arming sequence), so that timers
 * with equal deadlines fire in arming order (QEMU's timer list inserts after equal deadlines).
 * Each entry remembers its index, which makes re-arming and cancelling O(log n).
 */

export interface TimerHeapEntry {
  deadline: number;
  /** Arming sequence number; larger = armed later. */
  seq: number;
  /** Position in the heap, -1 when not in it. */
  heapIndex: number;
}

function before(a: TimerHeapEntry, b: TimerHeapEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

export class TimerHeap<T extends TimerHeapEntry> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  insert(entry: T): void {
    entry.heapIndex = this.items.length;
    this.items.push(entry);
    this.siftUp(entry.heapIndex);
  }

  /** Restores heap order after `entry`'s key changed. */
  update(entry: T): void {
    if (!this.siftUp(entry.heapIndex)) this.siftDown(entry.heapIndex);
  }

  remove(entry: T): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const last = this.items.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.update(last);
  }

  /** Returns true when the entry moved. */
  private siftUp(index: number): boolean {
    const items = this.items;
    const entry = items[index];
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (!before(entry, p)) break;
      items[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    items[i] = entry;
    entry.heapIndex = i;
    return i !== index;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const n = items.length;
    const entry = items[index];
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(items[right], items[left]) ? right : left;
      const c = items[child];
      if (!before(c, entry)) break;
      items[i] = c;
      c.heapIndex = i;
      i = child;
    }
    items[i] = entry;
    entry.heapIndex = i;
  }
}
