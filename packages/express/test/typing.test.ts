import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..', '..');

/**
 * An app that registers its collections, as a user's would. It is compiled as its own program:
 * a module augmentation is global, so in the root typecheck it would retype every other test.
 */
const userApp = `
import express from 'express';
import { FileRepository } from '@filekeep/core';
import { filekeep } from '@filekeep/express';

interface Expense { description: string; amount: number }
type Collections = { expenses: Expense };

declare module '@filekeep/express' {
  interface FilekeepCollections extends Collections {}
}

export async function main(): Promise<void> {
  const repo = await FileRepository.open<Collections>({ file: 'x.json', collections: { expenses: { schema: {} } } });
  const app = express();
  app.use(express.json(), filekeep(repo));
  app.post('/expenses', async (req, res) => {
    const saved = await req.repo.collection('expenses').insert({ description: 'Taxi', amount: 23 });
    const amount: number = saved.amount;
    res.status(201).json({ ...saved, amount });
  });
  app.get('/expenses', (req, res) => {
    // @ts-expect-error only registered collections exist
    req.repo.collection('invoices');
    // @ts-expect-error the record must be an Expense
    void req.repo.collection('expenses').insert({ description: 'Taxi' });
    res.json(req.repo.collection('expenses').list());
  });
}
`;

let previous: ts.Program | undefined;

function diagnostics(source: string): string[] {
  const file = path.join(root, 'packages/express/test/__user-app__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    esModuleInterop: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules/@types')],
    baseUrl: root,
    paths: {
      '@filekeep/core': ['packages/core/src/index.ts'],
      '@filekeep/express': ['packages/express/src/index.ts'],
    },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  // Reuse the last program's unchanged files (express, core): the second compile is much faster.
  const program = (previous = ts.createProgram([file], options, host, previous));
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('req.repo', () => {
  it('is typed with the collections the app registers, without casts', () => {
    expect(diagnostics(userApp)).toEqual([]);
  });

  it('is checked: a wrong record type fails to compile', () => {
    const wrong = userApp.replace("const amount: number = saved.amount;", 'const amount: string = saved.amount;');
    expect(diagnostics(wrong)).toEqual([expect.stringContaining("Type 'number' is not assignable to type 'string'")]);
  });
});
