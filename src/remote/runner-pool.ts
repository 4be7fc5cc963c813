/**
 * The command runners (command-runner.ts) one SSH connection keeps open: each runs as root
 * (through sudo) or as the login user, and serves one command at a time. The connection opens
 * them (it owns the channels) and asks the pool for one per command; the pool only decides which
 * runner is free, when a new one may be opened, and which ones are gone for good.
 */
import type { CommandRunner } from './command-runner.js';

// Runners kept open at once: commands beyond run on channels of their own. sshd allows 10
// sessions per connection (MaxSessions) and streaming commands need theirs.
const MAX_RUNNERS = 4;

interface RunnerSlot {
  sudo: boolean;
  /** handed out to a command now (or being opened) */
  taken: boolean;
  runner?: CommandRunner;
}

/** Opens a runner, through `sudo -n` when `sudo`; the connection does the opening. */
export type OpenRunner = (sudo: boolean) => Promise<CommandRunner>;

export class RunnerPool {
  private slots: RunnerSlot[] = [];
  private disposed = false;

  constructor(private readonly open: OpenRunner) {}

  /**
   * Opens runners ahead of the commands that will use them (in the background: a failure here
   * shows up, if at all, on the command that needs the runner).
   */
  warm(count: number, sudo: boolean): void {
    for (let i = 0; i < count && this.slots.length < MAX_RUNNERS; i++) {
      const slot: RunnerSlot = { sudo, taken: true };
      this.slots.push(slot);
      this.openInto(slot).then(
        () => {
          slot.taken = false;
        },
        () => this.drop(slot),
      );
    }
  }

  /** An idle runner of the right kind, a new one while there is room, or none (use a channel). */
  async take(sudo: boolean): Promise<CommandRunner | undefined> {
    for (const slot of this.slots) {
      if (slot.sudo === sudo && slot.runner?.usable && !slot.taken) {
        slot.taken = true;
        return slot.runner;
      }
    }
    this.slots = this.slots.filter((slot) => slot.taken || !slot.runner || slot.runner.usable);
    if (this.slots.length >= MAX_RUNNERS) return undefined;
    const slot: RunnerSlot = { sudo, taken: true };
    this.slots.push(slot);
    try {
      return await this.openInto(slot);
    } catch (error) {
      this.drop(slot);
      throw error;
    }
  }

  /** Hands a runner back after its command: kept for the next one, or forgotten once it ended. */
  giveBack(runner: CommandRunner): void {
    const slot = this.slots.find((s) => s.runner === runner);
    if (slot) slot.taken = false;
    if (!runner.usable) this.slots = this.slots.filter((s) => s !== slot);
    else if (this.disposed) runner.close();
  }

  /** The connection is closing: runners handed back from now on are closed, not kept. */
  dispose(): void {
    this.disposed = true;
  }

  private async openInto(slot: RunnerSlot): Promise<CommandRunner> {
    slot.runner = await this.open(slot.sudo);
    return slot.runner;
  }

  private drop(slot: RunnerSlot): void {
    this.slots = this.slots.filter((s) => s !== slot);
  }
}
