// In-memory storage: the ':memory:' data dir, non-durable queues, and the reference behaviour the
// durable log must match. It keeps the live state only, so acked messages cost nothing.
import type { QueueName, Seq } from '../node/ids.ts';
import { StorageError } from '../node/errors.ts';
import type { LogRecord, QueueLog, RecoveredQueue, Storage, StoredMessage, TopologySnapshot } from './storage.ts';
import { Replayer, seqAfter } from './replay.ts';

const clean = { droppedRecords: 0, droppedBytes: 0, problems: [] };

interface MemoryState {
  replayer: Replayer;
  messages: Map<Seq, StoredMessage>;
}

class MemoryQueueLog implements QueueLog {
  private closed = false;
  constructor(private readonly state: MemoryState) {}

  async recover(): Promise<RecoveredQueue> {
    return this.state.replayer.result(clean);
  }

  async append(records: readonly LogRecord[]): Promise<void> {
    if (this.closed) throw new StorageError('log is closed');
    const { replayer, messages } = this.state;
    const after = seqAfter(records, replayer.highestSeq);
    if ('refused' in after) throw new StorageError(after.refused);
    for (const r of records) {
      replayer.apply(r);
      if (r.type === 'enqueue') messages.set(r.meta.seq, r);
      else if (r.type === 'remove') for (const s of r.seqs) messages.delete(s);
    }
  }

  async read(seqs: readonly Seq[]): Promise<StoredMessage[]> {
    return seqs.map((seq) => {
      const message = this.state.messages.get(seq);
      if (!message) throw new StorageError(`no live message with seq ${seq}`);
      return message;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
  async destroy(): Promise<void> {
    this.closed = true;
    this.state.replayer = new Replayer();
    this.state.messages.clear();
  }
}

/** Keeps logs for the lifetime of the object, so a queue reopened on the same instance recovers. */
export class MemoryStorage implements Storage {
  private readonly logs = new Map<string, MemoryState>();
  private topology: TopologySnapshot | undefined;

  async openQueue(name: QueueName): Promise<QueueLog> {
    let state = this.logs.get(name);
    if (!state) this.logs.set(name, (state = { replayer: new Replayer(), messages: new Map() }));
    return new MemoryQueueLog(state);
  }
  async destroyQueue(name: QueueName): Promise<void> { this.logs.delete(name); }
  async storedQueues(): Promise<QueueName[]> { return [...this.logs.keys()] as QueueName[]; }
  private id: string | undefined;
  async nodeId(given: string | undefined, fresh: () => string) { return (this.id = given ?? this.id ?? fresh()); }
  async loadTopology() { return this.topology; }
  async saveTopology(t: TopologySnapshot) { this.topology = t; }
  async close() {}
}
