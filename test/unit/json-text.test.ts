import { describe, expect, it } from 'vitest';
import { jsonObjectOf, withoutByteOrderMark } from '../../src/config/json-text.js';

describe('JSON files as people edit them', () => {
  it('drops a leading byte-order mark, and only that', () => {
    expect(withoutByteOrderMark('\uFEFF{"a":1}')).toBe('{"a":1}');
    expect(withoutByteOrderMark('{"a":"\uFEFF"}')).toBe('{"a":"\uFEFF"}');
    expect(withoutByteOrderMark('')).toBe('');
  });

  it('reads the top-level object leniently: anything else is undefined', () => {
    expect(jsonObjectOf('\uFEFF{"app":"shop"}')).toEqual({ app: 'shop' });
    for (const text of ['[1]', 'null', '"x"', '3', '{ "app": ', '']) {
      expect(jsonObjectOf(text), JSON.stringify(text)).toBeUndefined();
    }
  });
});
