/**
 * Claude Code's `--output-format stream-json --verbose` events (the shapes are documented on
 * the claude adapter, packages/runner/src/adapters/claude.ts): `system` (init, api_retry),
 * `assistant` and `user` messages (text, thinking, tool_use, tool_result blocks), `result`,
 * `rate_limit_event`; `stream_event` partial deltas are left out (the whole message follows).
 */
import { num, obj, resultLine, seconds, str, textBlock, tokens, toolLine, type Json } from './shared.js';

/** Operator lines of one Claude Code event, or undefined when it is not one. */
export function claudeLines(ev: Json): string[] | undefined {
  switch (ev['type']) {
    case 'system':
      return system(ev);
    case 'assistant':
    case 'user':
      return blocks(obj(ev['message'])['content']);
    case 'result':
      // Gemini's result has `status`; Claude's has `subtype` / `is_error`.
      return 'status' in ev ? undefined : [result(ev)];
    case 'rate_limit_event': {
      const info = obj(ev['rate_limit_info']);
      const at = num(info['resetsAt']);
      return [
        `rate limit: ${str(info['status']) ?? '?'}${str(info['rateLimitType']) ? ` (${String(info['rateLimitType'])})` : ''}${at ? `, resets ${new Date(at * 1000).toISOString()}` : ''}`,
      ];
    }
    case 'stream_event':
      return [];
    default:
      return undefined;
  }
}

function system(ev: Json): string[] {
  const sub = str(ev['subtype']);
  if (sub === 'init') {
    const tools = Array.isArray(ev['tools']) ? ev['tools'].length : 0;
    return [`session: ${str(ev['model']) ?? 'model ?'}, ${tools} tools, in ${str(ev['cwd']) ?? '?'}`];
  }
  if (sub === 'api_retry') {
    const status = num(ev['error_status']);
    return [
      `API retry ${num(ev['attempt']) ?? '?'}/${num(ev['max_retries']) ?? '?'} in ${seconds(num(ev['retry_delay_ms'])) ?? '?'}: ${str(ev['error']) ?? 'error'}${status ? ` (HTTP ${status})` : ''}`,
    ];
  }
  return [`system: ${sub ?? '?'}`];
}

function blocks(content: unknown): string[] {
  if (typeof content === 'string') return [];
  if (!Array.isArray(content)) return [];
  return content.flatMap((b): string[] => {
    const block = obj(b);
    switch (block['type']) {
      case 'text':
        return textBlock('assistant', str(block['text']) ?? '');
      case 'thinking':
        return [`thinking: ${(str(block['thinking']) ?? '').trim().split('\n')[0] ?? ''}`];
      case 'tool_use':
        return [toolLine(str(block['name']) ?? '?', block['input'])];
      case 'tool_result':
        return [resultLine(resultText(block['content']), block['is_error'] === true)];
      default:
        return [];
    }
  });
}

/** A tool_result's content: a string, or text blocks. */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((c) => str(obj(c)['text']) ?? '')
    .filter(Boolean)
    .join('\n');
}

function result(ev: Json): string {
  const usage = obj(ev['usage']);
  const cost = num(ev['total_cost_usd']);
  const turns = num(ev['num_turns']);
  const parts = [
    seconds(num(ev['duration_ms'])),
    turns !== undefined ? `${turns} turn${turns === 1 ? '' : 's'}` : undefined,
    cost !== undefined ? `$${cost.toFixed(4)}` : undefined,
    tokens(
      num(usage['input_tokens']),
      num(usage['output_tokens']),
      num(usage['cache_read_input_tokens']),
      num(usage['cache_creation_input_tokens']),
    ),
  ].filter(Boolean);
  if (ev['is_error'] === true) {
    const status = num(ev['api_error_status']);
    const why = (str(ev['result']) ?? str(ev['subtype']) ?? 'error').trim().split('\n')[0];
    return `result: error${status ? ` (HTTP ${status})` : ''}: ${why}${parts.length ? `; ${parts.join(', ')}` : ''}`;
  }
  return `result: ${str(ev['subtype']) ?? 'done'}${parts.length ? `, ${parts.join(', ')}` : ''}`;
}
