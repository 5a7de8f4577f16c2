// RabbitMQ topic matching: words separated by '.', '*' is exactly one word, '#' is zero or more words.
export function topicMatches(pattern: string, key: string): boolean {
  return matchFrom(pattern.split('.'), 0, key === '' ? [] : key.split('.'), 0);
}

function matchFrom(p: readonly string[], i: number, k: readonly string[], j: number): boolean {
  while (i < p.length) {
    const word = p[i];
    if (word === '#') {
      // Collapse runs of '#', then try every split point for what the '#' swallows.
      while (i + 1 < p.length && p[i + 1] === '#') i++;
      if (i === p.length - 1) return true;
      for (let skip = j; skip <= k.length; skip++) if (matchFrom(p, i + 1, k, skip)) return true;
      return false;
    }
    if (j >= k.length || (word !== '*' && word !== k[j])) return false;
    i++;
    j++;
  }
  return j === k.length;
}
