/**
 * Everything a command opens is registered here as it is opened and closed in reverse order at the
 * end, whatever happened in between; a failing close does not stop the others.
 */
export class Resources {
  private readonly closers: { name: string; close: () => unknown }[] = [];

  defer(name: string, close: () => unknown): void {
    this.closers.push({ name, close });
  }

  async close(): Promise<void> {
    while (this.closers.length > 0) {
      const c = this.closers.pop()!;
      try {
        await c.close();
      } catch {
        // Closing is best effort: the process is ending, and the next closer still deserves its turn.
      }
    }
  }
}
