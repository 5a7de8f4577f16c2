import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asSeq } from '../node/ids.ts';
import { DeliveryTags } from './delivery-tags.ts';

test('one (epoch, seq) keeps one tag; a new epoch tags above every earlier tag', () => {
  const tags = new DeliveryTags();
  const a = tags.tag(1, asSeq(5));
  const b = tags.tag(1, asSeq(2));
  assert.equal(tags.tag(1, asSeq(5)), a, 'a duplicate delivery gets the same tag');
  assert.deepEqual(tags.origin(a), { epoch: 1, seq: 5 });
  assert.deepEqual(tags.origin(b), { epoch: 1, seq: 2 });
  // The new leader redelivers seq 5 and 2: new tags, and the old ones still name the old epoch.
  const a2 = tags.tag(2, asSeq(5));
  const b2 = tags.tag(2, asSeq(2));
  assert.ok(a2 > a && b2 > a, 'tags of the new epoch are above every earlier tag');
  assert.deepEqual(tags.origin(a2), { epoch: 2, seq: 5 });
  assert.deepEqual(tags.origin(b2), { epoch: 2, seq: 2 });
  assert.deepEqual(tags.origin(a), { epoch: 1, seq: 5 });
});

test('a tag above every one issued is unknown, and tagging an epoch older than the newest is refused', () => {
  const tags = new DeliveryTags();
  assert.equal(tags.origin(asSeq(1)), undefined);
  const t = tags.tag(3, asSeq(10));
  assert.equal(tags.origin(asSeq(t + 1)), undefined, 'above the highest tag issued');
  assert.throws(() => tags.tag(2, asSeq(1)), RangeError);
});
