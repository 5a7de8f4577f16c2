// Actor dead letters: messages told to an actor that has stopped, or that its full mailbox refused.
// nact drops those silently; Warren counts them and hands them to listeners instead.
export interface ActorDeadLetter {
  readonly actor: string;
  readonly reason: 'stopped' | 'mailbox-full';
  readonly message: unknown;
}

export class DeadLetters {
  private readonly listeners = new Set<(d: ActorDeadLetter) => void>();
  count = 0;

  publish(letter: ActorDeadLetter): void {
    this.count++;
    for (const l of this.listeners) l(letter);
  }

  subscribe(listener: (d: ActorDeadLetter) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
