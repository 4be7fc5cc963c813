/**
 * Reads an action's stdout as the GitHub runner does: line by line (\n, \r\n or a lone \r ends a
 * line), obeying `::name props::data` workflow commands unless `::stop-commands::TOKEN` stopped
 * them (until the line `::TOKEN::`), registering `::add-mask::` values and masking every later
 * line, and the data of annotations, with `***`.
 */

export interface LogLine {
  /** the line as the log shows it, masked */
  text: string;
  /** printed while workflow commands were stopped */
  fenced: boolean;
}

export interface WorkflowCommand {
  name: string;
  /** unescaped and masked, as the runner shows it */
  data: string;
}

export interface WorkflowLog {
  lines: LogLine[];
  commands: WorkflowCommand[];
  /** values registered with add-mask, in order */
  masks: string[];
}

const COMMAND = /^::([A-Za-z-]+)(?: [^:]*)?::(.*)$/;

function unescapeData(data: string): string {
  return data.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
}

export function readWorkflowLog(stdout: string): WorkflowLog {
  const masks: string[] = [];
  const mask = (text: string) =>
    [...masks]
      .sort((a, b) => b.length - a.length)
      .reduce((out, secret) => out.split(secret).join('***'), text);
  const lines: LogLine[] = [];
  const commands: WorkflowCommand[] = [];
  let token: string | undefined;
  for (const line of stdout.split(/\r\n|\r|\n/)) {
    if (token !== undefined) {
      if (line.trim() === `::${token}::`) token = undefined;
      else lines.push({ text: mask(line), fenced: true });
      continue;
    }
    // The runner is lenient about leading white space; so is this model (it obeys more, not less).
    const match = COMMAND.exec(line.trimStart());
    if (match === null) {
      lines.push({ text: mask(line), fenced: false });
      continue;
    }
    const name = match[1]!.toLowerCase();
    const data = unescapeData(match[2]!);
    if (name === 'add-mask') {
      if (data.trim() !== '') masks.push(data);
      commands.push({ name, data: '***' });
      continue;
    }
    if (name === 'stop-commands') token = data;
    commands.push({ name, data: mask(data) });
  }
  return { lines, commands, masks };
}
