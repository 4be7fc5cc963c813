/**
 * The questions `toss init` asks, behind a small interface so the command never depends on the
 * prompt library. The real one is @clack/prompts on the terminal; Ctrl-C or Esc cancels init.
 */
import * as clack from '@clack/prompts';
import { UsageError } from '../errors.js';

export interface TextQuestion {
  message: string;
  /** shown, and returned when the answer is empty */
  defaultValue?: string | undefined;
  placeholder?: string | undefined;
  /** a problem to show (the question is asked again), or undefined when the answer is fine */
  validate?: ((value: string) => string | undefined) | undefined;
}

export interface Prompter {
  intro(title: string): void;
  text(question: TextQuestion): Promise<string>;
  confirm(message: string, initialValue?: boolean): Promise<boolean>;
  note(message: string, title?: string): void;
}

function answered<T>(value: T): Exclude<T, symbol> {
  if (clack.isCancel(value)) {
    clack.cancel('toss init cancelled; nothing more was changed.');
    throw new UsageError('toss init was cancelled');
  }
  return value as Exclude<T, symbol>;
}

export function clackPrompter(): Prompter {
  return {
    intro: (title) => clack.intro(title),
    async text(question) {
      const value = answered(
        await clack.text({
          message: question.message,
          ...(question.defaultValue
            ? { defaultValue: question.defaultValue, placeholder: question.defaultValue }
            : question.placeholder
              ? { placeholder: question.placeholder }
              : {}),
          validate: (raw) => {
            const value = (raw ?? '').trim() || question.defaultValue || '';
            return question.validate?.(value);
          },
        }),
      );
      return value.trim() || question.defaultValue || '';
    },
    async confirm(message, initialValue = true) {
      return answered(await clack.confirm({ message, initialValue }));
    },
    note: (message, title) => clack.note(message, title),
  };
}
