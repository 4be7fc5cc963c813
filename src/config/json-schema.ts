import { z } from 'zod';
import { tossConfigSchema } from './schema.js';

/** Where the published schema lives; editors fetch it through toss.json's `$schema`. */
export const SCHEMA_ID = 'https://raw.githubusercontent.com/toss/deploy/v1/toss.schema.json';

/** toss.schema.json, generated from the zod schema (the input side: defaulted fields are optional). */
export function buildJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(tossConfigSchema, {
    target: 'draft-07',
    io: 'input',
    // zod bounds every integer by MAX_SAFE_INTEGER; in an editor's hover that is only noise.
    override: ({ jsonSchema }) => {
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  });
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'toss.json',
    ...rest,
    // The zod refinement (an app or a static site, not both) does not carry over; this says it.
    oneOf: [{ required: ['startCommand'] }, { required: ['static'] }],
  };
}

/** The file's exact text, as committed. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(buildJsonSchema(), null, 2)}\n`;
}
