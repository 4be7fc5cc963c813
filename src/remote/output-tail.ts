/** The last lines of a command's output (stderr and stdout as they arrived), for error messages. */
const KEEP_BYTES = 16 * 1024;
const KEEP_LINES = 20;

export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  /** The tail of already collected output (stderr first: that is where failures speak). */
  static of(...texts: string[]): string {
    const tail = new OutputTail();
    for (const text of texts)
      if (text) tail.push(Buffer.from(text.endsWith('\n') ? text : `${text}\n`));
    return tail.text();
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Only the end matters: drop whole chunks beyond what the last lines can need.
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= KEEP_BYTES) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const lines = Buffer.concat(this.chunks).toString('utf8').trimEnd().split('\n');
    return lines.slice(-KEEP_LINES).join('\n');
  }
}
