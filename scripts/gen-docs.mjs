#!/usr/bin/env node
// Writes the generated reference docs (configuration, events, errors, notifications, hooks, commands) from the code
// that defines them. `npm run docs`; the test suite fails when a committed doc is stale.
import { writeFileSync } from 'node:fs';
import { renderConfigDoc } from '@agent-runner/core/config';
import { renderEventsDoc } from '@agent-runner/core/events';
import { renderErrorsDoc } from '@agent-runner/core/errors';
import { renderNotificationsDoc } from '@agent-runner/core/alarms';
import { renderHooksDoc } from '@agent-runner/core/hooks';
import { renderCommandsDoc, docContext } from '../packages/cli/dist/commands-doc.js';

const root = new URL('../', import.meta.url);
for (const [file, text] of [
  ['docs/configuration.md', renderConfigDoc()],
  ['docs/events.md', renderEventsDoc()],
  ['docs/errors.md', renderErrorsDoc()],
  ['docs/notifications.md', renderNotificationsDoc()],
  ['docs/hooks.md', renderHooksDoc()],
  ['docs/commands.md', await renderCommandsDoc(docContext())],
]) {
  writeFileSync(new URL(file, root), text);
  console.log(`wrote ${file}`);
}
