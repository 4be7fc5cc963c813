/** The action's post step: releases what main left behind (lock, key file). */
export async function post(): Promise<void> {
  // Nothing is acquired by main yet.
}
