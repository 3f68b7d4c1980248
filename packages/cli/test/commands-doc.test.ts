import t from 'tap';
import { readFileSync } from 'node:fs';
import { docContext, renderCommandsDoc } from '../src/commands-doc.js';

t.test("docs/commands.md is the CLI's own --help of every verb, and current", async (t) => {
  const doc = await renderCommandsDoc(docContext());
  t.equal(
    readFileSync(new URL('../../../docs/commands.md', import.meta.url), 'utf8'),
    doc,
    'docs/commands.md is stale: run `npm run docs`',
  );
  for (const verb of ['serve', 'peek', 'events', 'install', 'monitor', 'heal reset']) t.match(doc, `## agent-runner ${verb}\n`);
  t.match(doc, /--max-rounds/);
});
