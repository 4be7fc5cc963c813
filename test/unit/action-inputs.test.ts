import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS, Input, readInputs } from '../../src/action/inputs.js';
import { ConfigError } from '../../src/errors.js';

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
  runs: Record<string, string>;
}
const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml;

describe('action.yml and the input parser', () => {
  it('declare the same inputs', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.values(Input).sort());
  });

  it('never mark an input required, and describe every one', () => {
    for (const [name, spec] of Object.entries(action.inputs)) {
      expect(spec.required, name).not.toBe(true);
      expect(spec.description.length, name).toBeGreaterThan(10);
    }
  });

  it('agree on defaults', () => {
    for (const [name, value] of Object.entries(INPUT_DEFAULTS)) {
      expect(action.inputs[name]?.default, name).toBe(value);
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a JS template
    expect(action.inputs[Input.GithubToken]?.default).toBe('${{ github.token }}');
  });

  it('runs on node24 with main and post from the same bundle', () => {
    expect(action.runs).toEqual({
      using: 'node24',
      main: 'dist/index.js',
      post: 'dist/index.js',
      'post-if': 'always()',
    });
    expect(Object.keys(action.outputs).sort()).toEqual(
      ['action', 'deployment-id', 'environment', 'release', 'url'].sort(),
    );
  });

  it('parses the defaults into typed settings', () => {
    const inputs = readInputs(() => '');
    expect(inputs).toMatchObject({
      config: 'toss.json',
      workingDirectory: '.',
      comment: true,
      deployment: true,
      lockWait: 600,
      command: 'auto',
      force: false,
    });
    expect(readInputs((n) => (n === Input.Force ? 'true' : '')).force).toBe(true);
  });

  it.each([
    [Input.LockWait, 'ten', 'input lock-wait: expected a whole number of seconds'],
    [Input.Command, 'nuke', 'input command: expected auto, deploy, remove or sweep'],
    [Input.Comment, 'yes', 'input comment: expected true or false'],
    [Input.Force, 'always', 'input force: expected true or false'],
  ])('rejects %s=%s', (name, value, message) => {
    const get = (n: string) => (n === name ? value : '');
    expect(() => readInputs(get)).toThrow(ConfigError);
    expect(() => readInputs(get)).toThrow(message);
  });
});
