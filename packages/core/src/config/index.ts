export { CONFIG_FILE_NAME, configPaths, findConfig, loadConfig, parseConfig, type LoadOptions } from './load.js';
export { loadMonitorConfig, type MonitorConfigFile } from './monitor-file.js';
export {
  AGENT_PRESETS,
  CONFIG_SCHEMA,
  NOTIFY_TYPES,
  SEVERITIES,
  tableDefaults,
  type NotifyType,
  type PresetName,
  type SeverityName,
} from './schema.js';
export { renderConfigDoc } from './docs.js';
export { readSecretRef, type SecretRead } from './secrets.js';
export type * from './types.js';
export { didYouMean } from './suggest.js';
export { commandProblem, HOOK_FAILURE_DEFAULT } from './hooks.js';
