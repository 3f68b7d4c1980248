/**
 * Codex CLI's `exec --json` events (shapes on the codex adapter,
 * packages/runner/src/adapters/codex.ts): `thread.started`, `turn.*`, `item.*` with
 * `agent_message`, `reasoning`, `command_execution`, `file_change`, `mcp_tool_call`,
 * `web_search`, `todo_list`, `error` items, and top-level `error`.
 */
import { num, obj, resultLine, str, textBlock, tokens, toolLine, type Json } from './shared.js';

/** Operator lines of one Codex event, or undefined when it is not one. */
export function codexLines(ev: Json): string[] | undefined {
  const type = str(ev['type']) ?? '';
  if (type === 'thread.started') return [`session: thread ${str(ev['thread_id']) ?? '?'}`];
  if (type === 'turn.started') return [];
  if (type === 'turn.completed') {
    const u = obj(ev['usage']);
    const input = num(u['input_tokens']);
    const cached = num(u['cached_input_tokens']);
    // Codex counts cached tokens inside input_tokens.
    return [
      `result: turn completed, ${tokens(input !== undefined ? input - (cached ?? 0) : undefined, num(u['output_tokens']), cached, num(u['cache_write_input_tokens'])) ?? 'no usage'}`,
    ];
  }
  if (type === 'turn.failed') return [`result: error: ${str(obj(ev['error'])['message']) ?? '?'}`];
  if (type === 'item.started' || type === 'item.updated' || type === 'item.completed')
    return item(obj(ev['item']), type === 'item.completed');
  return undefined;
}

function item(it: Json, done: boolean): string[] {
  switch (it['type']) {
    case 'command_execution':
      // The call when it starts, its outcome when it completes.
      if (!done) return [toolLine('shell', { command: it['command'] })];
      return [
        resultLine(
          `${num(it['exit_code']) !== undefined ? `exit ${String(it['exit_code'])}: ` : ''}${str(it['aggregated_output']) ?? ''}`,
          it['status'] === 'failed',
        ),
      ];
    case 'agent_message':
      return done ? textBlock('assistant', str(it['text']) ?? '') : [];
    case 'reasoning':
      return done ? [`thinking: ${(str(it['text']) ?? '').trim().split('\n')[0] ?? ''}`] : [];
    case 'file_change': {
      if (!done) return [];
      const changes = Array.isArray(it['changes'])
        ? it['changes'].map((c) => `${str(obj(c)['kind']) ?? '?'} ${str(obj(c)['path']) ?? '?'}`)
        : [];
      return [`tool: edit ${changes.join(', ')}`];
    }
    case 'mcp_tool_call':
      return done ? [toolLine(`${str(it['server']) ?? '?'}.${str(it['tool']) ?? '?'}`, it['arguments'])] : [];
    case 'web_search':
      return done ? [toolLine('web_search', { query: it['query'] })] : [];
    case 'todo_list':
      return done && Array.isArray(it['items']) ? [`todo: ${it['items'].length} items`] : [];
    case 'error':
      return [`warning: ${str(it['message']) ?? '?'}`];
    default:
      return [];
  }
}
