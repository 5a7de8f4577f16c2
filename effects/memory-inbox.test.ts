// The in-memory inbox through a real node: every fault of testing.ts, and the same faults without
// exactlyOnce, which repeat effects.
import { describe, it } from 'node:test';
import { memoryStore } from './memory-inbox.ts';
import { storeProperty } from './testing.ts';

describe('exactlyOnce with the memory inbox', () => {
  it('applies each effect once across redeliveries; without exactlyOnce the same faults repeat effects', () => storeProperty<string[]>({
    name: 'memory inbox',
    runs: 15,
    transactional: true,
    async open() {
      const store = memoryStore<string>();
      return { store, effect: async (m, tx) => { tx.push(m.text()); }, committed: store.committed };
    },
  }));
});
