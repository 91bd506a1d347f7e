import { type SchedulerAction, type SchedulerLike, Subscription } from "rxjs";

/** What the queue needs of a task. */
interface Pending {
  due: number;
  run(): void;
}

class Task<T> extends Subscription implements SchedulerAction<T>, Pending {
  due = 0;
  state: T | undefined;

  constructor(
    private readonly scheduler: FastForwardScheduler,
    private readonly work: (this: SchedulerAction<T>, state?: T) => void,
  ) {
    super(() => scheduler.remove(this));
  }

  // Rescheduling reuses this task (as rxjs' AsyncAction does), so a periodic source stays
  // one task however long it runs.
  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.state = state;
    this.scheduler.enqueue(this, delay);
    return this;
  }

  run(): void {
    this.work.call(this, this.state);
  }
}

/**
 * A virtual clock that runs scheduled work in time order, as fast as the CPU allows, when
 * `flush()` is called: for replaying days of accelerated simulation in seconds. Unlike
 * rxjs' `VirtualTimeScheduler` (built for marble tests), a task that reschedules itself is
 * reused, not chained: `VirtualAction` adds each reschedule as a child of the previous
 * action, and unsubscribing ~10,000 ticks deep overflows the stack.
 *
 * @example
 * ```ts
 * const scheduler = new FastForwardScheduler();
 * fromSimulatedCompressor({ accelerate: 5, until: "2025-01-08T00:00:00Z" }, scheduler).subscribe(…);
 * scheduler.flush(); // two simulated days, synchronously
 * ```
 */
export class FastForwardScheduler implements SchedulerLike {
  private time = 0;
  private queue: Pending[] = [];

  now(): number {
    return this.time;
  }

  schedule<T>(
    work: (this: SchedulerAction<T>, state?: T) => void,
    delay = 0,
    state?: T,
  ): Subscription {
    return new Task<T>(this, work).schedule(state, delay);
  }

  /** Runs every task due, advancing the clock to each, until nothing is scheduled. */
  flush(): void {
    for (let task = this.queue.shift(); task !== undefined; task = this.queue.shift()) {
      this.time = Math.max(this.time, task.due);
      task.run();
    }
  }

  /** @internal */
  enqueue(task: Pending, delay: number): void {
    this.remove(task);
    task.due = this.time + Math.max(0, delay);
    // Few tasks are ever pending: a sorted insert (after equal due times: FIFO) is enough.
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.due > task.due) i--;
    this.queue.splice(i, 0, task);
  }

  /** @internal */
  remove(task: Pending): void {
    const i = this.queue.indexOf(task);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
