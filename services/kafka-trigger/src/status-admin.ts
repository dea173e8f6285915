import type { Admin, GroupDescriptions } from 'kafkajs';

type TopicOffsets = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

/**
 * The status admin of one connection, as the status reconcile uses it. The answers every trigger
 * on the connection shares (which topics exist, each topic's first and next offsets) are read once
 * per `ttlMs` for all of them, instead of once per trigger per status interval: with 1,000
 * triggers on one topic, those were most of the idle requests to the broker. A failed read is not
 * kept. A group's own state and commits are read per trigger.
 */
export class StatusAdmin {
  readonly #admin: Admin;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #topics: Cached<string[]> | undefined;
  readonly #ends = new Map<string, Cached<TopicOffsets>>();

  constructor(admin: Admin, ttlMs: number, now: () => number = Date.now) {
    this.#admin = admin;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  listTopics(): Promise<string[]> {
    this.#topics = this.#fresh(this.#topics, () => this.#admin.listTopics(), (c) => {
      if (this.#topics === c) this.#topics = undefined;
    });
    return this.#topics.value;
  }

  fetchTopicOffsets(topic: string): Promise<TopicOffsets> {
    const c = this.#fresh(this.#ends.get(topic), () => this.#admin.fetchTopicOffsets(topic), (failed) => {
      if (this.#ends.get(topic) === failed) this.#ends.delete(topic);
    });
    this.#ends.set(topic, c);
    return c.value;
  }

  describeGroups(groupIds: string[]): Promise<GroupDescriptions> {
    return this.#admin.describeGroups(groupIds);
  }

  fetchOffsets(o: { groupId: string; topics: string[] }): ReturnType<Admin['fetchOffsets']> {
    return this.#admin.fetchOffsets(o);
  }

  #fresh<T>(c: Cached<T> | undefined, read: () => Promise<T>, drop: (c: Cached<T>) => void): Cached<T> {
    const now = this.#now();
    if (c && now - c.at < this.#ttlMs) return c;
    const next: Cached<T> = { at: now, value: read() };
    next.value.catch(() => {
      drop(next);
    });
    return next;
  }
}
