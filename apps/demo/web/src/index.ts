import { header } from './session.js';

header();
