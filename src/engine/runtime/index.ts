// Where tensors run: choosing and initialising a TensorFlow.js backend (native, wasm with threads, cpu).
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice } from './backend-choice.js';
export { initBackend, type BackendInfo, type BackendOptions } from './backend.js';
