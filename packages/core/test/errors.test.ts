import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@filekeep/core';
import { ERROR_CODES, FilekeepError } from '@filekeep/core';

const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');

describe('error codes', () => {
  it.each(ERROR_CODES)('documents %s in the README error table', (code) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\| \`\\w+Error\` \\|`, 'm'));
  });

  it('has one exported error class per code, and every class carries its code', () => {
    const classes = Object.values(core).filter(
      (value): value is typeof FilekeepError => typeof value === 'function' && value.prototype instanceof FilekeepError,
    );
    const codes = new Set<string>();
    for (const ErrorClass of classes) {
      const row = new RegExp(`^\\| \`(FK_\\w+)\` \\| \`${ErrorClass.name}\` \\|`, 'm').exec(readme);
      expect(row).not.toBeNull();
      codes.add(row![1]!);
    }
    expect([...codes].sort()).toEqual([...ERROR_CODES].sort());
  });
});
