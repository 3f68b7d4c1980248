/**
 * Gemini CLI's `--output-format stream-json` events (shapes on the gemini adapter,
 * packages/runner/src/adapters/gemini.ts): `init`, `message` (the assistant's streamed chunks
 * are joined by the caller), `tool_use`, `tool_result`, `error`, `result` with `status`.
 */
import { num, obj, resultLine, seconds, str, tokens, toolLine, type Json } from './shared.js';

/** Operator lines of one Gemini CLI event, or undefined when it is not one. */
export function geminiLines(ev: Json): string[] | undefined {
  switch (ev['type']) {
    case 'init':
      return [`session: ${str(ev['model']) ?? 'model ?'}`];
    case 'message':
      // The prompt echoed back; an assistant message that is not a text chunk says nothing more.
      return [];
    case 'tool_use':
      return [toolLine(str(ev['tool_name']) ?? '?', ev['parameters'])];
    case 'tool_result': {
      const failed = ev['status'] === 'error';
      return [resultLine(failed ? (str(obj(ev['error'])['message']) ?? 'failed') : (str(ev['output']) ?? ''), failed)];
    }
    case 'error':
      return [`${str(ev['severity']) === 'warning' ? 'warning' : 'error'}: ${str(ev['message']) ?? '?'}`];
    case 'result': {
      const s = obj(ev['stats']);
      const calls = num(s['tool_calls']);
      const parts = [
        seconds(num(s['duration_ms'])),
        calls !== undefined ? `${calls} tool call${calls === 1 ? '' : 's'}` : undefined,
        tokens(num(s['input']) ?? num(s['input_tokens']), num(s['output_tokens']), num(s['cached'])),
      ].filter(Boolean);
      if (ev['status'] === 'error')
        return [`result: error: ${str(obj(ev['error'])['message']) ?? '?'}${parts.length ? `; ${parts.join(', ')}` : ''}`];
      return [`result: ${str(ev['status']) ?? 'done'}${parts.length ? `, ${parts.join(', ')}` : ''}`];
    }
    default:
      return undefined;
  }
}
