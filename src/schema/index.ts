// The GraphQL schema: every type file registers itself on the builder.
import { builder } from './builder.js';
import './types/errors.js';
import './types/params.js';
import './types/image.js';
import './types/style.js';
import './types/preset.js';
import './types/style-model.js';
import './types/run.js';
import './types/storage.js';
import './types/engine.js';
import './types/subscriptions.js';

export const schema = builder.toSchema({ sortSchema: true });
