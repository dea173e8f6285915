/**
 * The client's requests in flight, in two kinds of intrusive lists (the links live in the request
 * itself, so being in flight allocates nothing per request):
 *
 * - `Deadlines`: per timeout, requests in the order they started, which is the order of their
 *   deadlines; one Node timer per list, armed for its oldest request. This replaces a `setTimeout`
 *   per request (a Timeout object that outlives the young generation's collections when requests
 *   take a few milliseconds, and a timer-list insert and removal).
 * - `SignalWatchers`: per caller's AbortSignal, the requests under it, with one `abort` listener
 *   while any is in flight (a listener per request made `AbortSignal` slow and leaked listeners).
 */

/** A request in flight; the lists below own its link fields. */
export abstract class InFlightEntry {
  /** `performance.now()` past which it times out. */
  deadlineAt = 0;
  prevByDeadline: InFlightEntry | undefined = undefined;
  nextByDeadline: InFlightEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;
  prevBySignal: InFlightEntry | undefined = undefined;
  nextBySignal: InFlightEntry | undefined = undefined;
  signalGroup: SignalGroup | undefined = undefined;

  /** Its deadline passed (it is no longer in its deadline list). */
  abstract expire(): void;
  /** Its signal aborted (it is no longer in its signal's list). */
  abstract abortBySignal(reason: unknown): void;
}

/**
 * Runs one request's expiry or abort; a throw (a caller's callback) is rethrown on its own, so
 * the other requests of the list still settle and its timer is still re-armed.
 */
function settle(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/** Requests with one timeout, oldest first, and the timer of the oldest. */
class DeadlineList {
  readonly timeoutMs: number;
  head: InFlightEntry | undefined;
  tail: InFlightEntry | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  push(e: InFlightEntry, now: number): void {
    e.deadlineAt = now + this.timeoutMs;
    e.deadlineList = this;
    e.prevByDeadline = this.tail;
    e.nextByDeadline = undefined;
    if (this.tail) this.tail.nextByDeadline = e;
    else this.head = e;
    this.tail = e;
    this.#timer ??= this.#arm(this.timeoutMs);
  }

  remove(e: InFlightEntry): void {
    const { prevByDeadline: prev, nextByDeadline: next } = e;
    if (prev) prev.nextByDeadline = next;
    else this.head = next;
    if (next) next.prevByDeadline = prev;
    else this.tail = prev;
    e.prevByDeadline = e.nextByDeadline = e.deadlineList = undefined;
    // Nothing left to time out: no timer holds the process (the oldest one's timer stays armed
    // otherwise, and re-arms for the next when it fires).
    if (!this.head && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      this.#fire();
    }, Math.max(1, Math.ceil(ms)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    // An expiry may settle other requests (a callback that stops a consumer): take them one at a time.
    for (let e = this.head; e && e.deadlineAt <= now; e = this.head) {
      this.remove(e);
      settle(() => {
        e.expire();
      });
    }
    // (An expiry may have started a request, which armed the timer already.)
    if (this.head) this.#timer ??= this.#arm(this.head.deadlineAt - now);
  }
}

/** Deadline lists by timeout (a client serves triggers with different timeouts). */
export class Deadlines {
  readonly #lists = new Map<number, DeadlineList>();
  #last: DeadlineList | undefined;

  add(e: InFlightEntry, timeoutMs: number): void {
    let list = this.#last;
    if (list?.timeoutMs !== timeoutMs) {
      list = this.#lists.get(timeoutMs);
      if (!list) {
        list = new DeadlineList(timeoutMs);
        this.#lists.set(timeoutMs, list);
      }
      this.#last = list;
    }
    list.push(e, performance.now());
  }

  delete(e: InFlightEntry): void {
    e.deadlineList?.remove(e);
  }
}

/** The requests under one signal, and the signal's listener while there are any. */
class SignalGroup {
  readonly signal: AbortSignal;
  head: InFlightEntry | undefined;
  readonly #onAbort = (): void => {
    // Taken out first: each one's abort settles it, which removes it from the list.
    const entries: InFlightEntry[] = [];
    for (let e = this.head; e; e = e.nextBySignal) entries.push(e);
    for (const e of entries) this.remove(e);
    for (const e of entries) {
      settle(() => {
        e.abortBySignal(this.signal.reason);
      });
    }
  };

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }

  push(e: InFlightEntry): void {
    if (!this.head) this.signal.addEventListener('abort', this.#onAbort, { once: true });
    e.signalGroup = this;
    e.prevBySignal = undefined;
    e.nextBySignal = this.head;
    if (this.head) this.head.prevBySignal = e;
    this.head = e;
  }

  remove(e: InFlightEntry): void {
    const { prevBySignal: prev, nextBySignal: next } = e;
    if (prev) prev.nextBySignal = next;
    else this.head = next;
    if (next) next.prevBySignal = prev;
    e.prevBySignal = e.nextBySignal = e.signalGroup = undefined;
    // The listener goes with the last request, so a long-lived signal does not collect them.
    if (!this.head) this.signal.removeEventListener('abort', this.#onAbort);
  }
}

/** The caller's signals, each watched by one listener while requests under it are in flight. */
export class SignalWatchers {
  readonly #groups = new WeakMap<AbortSignal, SignalGroup>();
  #last: SignalGroup | undefined;

  add(signal: AbortSignal, e: InFlightEntry): void {
    let group = this.#last;
    if (group?.signal !== signal) {
      group = this.#groups.get(signal);
      if (!group) {
        group = new SignalGroup(signal);
        this.#groups.set(signal, group);
      }
      this.#last = group;
    }
    group.push(e);
  }

  delete(e: InFlightEntry): void {
    e.signalGroup?.remove(e);
  }
}
