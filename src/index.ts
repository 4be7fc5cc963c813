import './dirname-shim.js';
import { entry } from './action/entry.js';

await entry();
