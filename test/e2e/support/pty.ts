/**
 * Drives a command through a real pseudo-terminal (python3's pty module): waits for each prompt
 * text to appear on the screen, then types the answer, as a person would.
 */
import { spawn } from 'node:child_process';

// argv[1]: JSON {argv, env, cwd, steps: [[expect, send], …]}; prints the screen text, exits with the child's status.
const DRIVER = String.raw`
import fcntl, json, os, pty, re, select, struct, sys, termios, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    # A real terminal size: without one, prompts wrap after every character.
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    os.chdir(spec["cwd"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])
ansi = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
screen = ""
pos = 0
def read(timeout):
    global screen
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    if not data:
        return False
    screen += ansi.sub("", data.decode("utf-8", "replace"))
    return True
alive = True
for expect, send in spec["steps"]:
    deadline = time.time() + 90
    while True:
        i = screen.find(expect, pos)
        if i != -1:
            pos = i + len(expect)
            break
        if not alive or time.time() > deadline:
            sys.stdout.write(screen)
            sys.stdout.write("\n[pty driver] timed out waiting for: %r\n" % expect)
            os.kill(pid, 9)
            sys.exit(99)
        alive = read(0.2)
    time.sleep(0.15)
    os.write(fd, send.encode())
while alive:
    alive = read(1)
_, status = os.waitpid(pid, 0)
sys.stdout.write(screen)
sys.exit(os.waitstatus_to_exitcode(status))
`;

export interface PtyRun {
  code: number;
  screen: string;
}

/** Runs argv in a pty; `steps` are [text to wait for, keys to type] in order. */
export function runInPty(
  argv: string[],
  steps: Array<[string, string]>,
  options: { cwd: string; env: Record<string, string> },
): Promise<PtyRun> {
  const spec = JSON.stringify({ argv, env: options.env, cwd: options.cwd, steps });
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, spec], { stdio: ['ignore', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (c: Buffer) => {
      screen += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      screen += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, screen }));
  });
}
