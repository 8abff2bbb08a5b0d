import { writeFileSync } from 'node:fs';
import { configMarkdown, errorsMarkdown } from '../src/docs.js';

const root = new URL('../../../docs/', import.meta.url);
writeFileSync(new URL('errors.md', root), errorsMarkdown());
writeFileSync(new URL('configuration.md', root), configMarkdown());
