// The backends a user can ask for, without loading any of them: the server and CLI validate choices with this.
import { BackendUnavailableError } from '../errors.js';

/** In the order `auto` tries them. */
export const BACKEND_CHOICES = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export function parseBackendChoice(value: string | undefined): BackendChoice | 'auto' {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new BackendUnavailableError(`unknown backend "${value}" (valid: auto, ${BACKEND_CHOICES.join(', ')})`);
}
