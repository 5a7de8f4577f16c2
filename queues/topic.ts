// RabbitMQ topic matching: words separated by '.', '*' is exactly one word, '#' is zero or more words;
// an empty pattern or key has no words (as RabbitMQ splits them), so '' matches ''. The pattern is run
// over the key once, keeping every place in the key it can have reached (a '#' reaches all that
// follow): pattern words × key words steps, where trying each split point for each '#' grew
// exponentially with the '#'s (one publish took seconds).
const words = (s: string): readonly string[] => (s === '' ? [] : s.split('.'));

export function topicMatches(pattern: string, key: string): boolean {
  const k = words(key);
  /** reached[j]: the pattern's words so far match the key's first j words. */
  let reached = new Uint8Array(k.length + 1);
  reached[0] = 1;
  for (const w of words(pattern)) {
    const next = new Uint8Array(k.length + 1);
    let any = 0;
    if (w === '#') {
      for (let j = 0; j <= k.length; j++) any = next[j] = any | reached[j]!;
    } else {
      for (let j = 0; j < k.length; j++) if (reached[j] && (w === '*' || w === k[j])) any = next[j + 1] = 1;
    }
    if (!any) return false;
    reached = next;
  }
  return reached[k.length] === 1;
}
