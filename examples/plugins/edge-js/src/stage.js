// The component glue of the edge stage: the WIT export `okd:compose/stage` over `edge.js`.
// Built with `npm run build` (componentize-js, world `edge` in wit/world.wit).

import { log } from 'okd:compose/log@0.1.0';
import { CONFIG_SCHEMA, ConfigError, DESCRIPTION, NAME, VERSION, trim } from './edge.js';

export const stage = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      description: DESCRIPTION,
      configSchema: JSON.stringify(CONFIG_SCHEMA),
    };
  },

  // `result<list<finding>, string>`: a returned list is `ok`, a thrown string is `err`.
  run(config, release) {
    let findings;
    try {
      findings = trim(config, release);
    } catch (e) {
      throw e instanceof ConfigError ? `invalid stage config: ${e.message}` : String(e.message ?? e);
    }
    const summary = findings.find((f) => f.check === 'edge-trim');
    log('info', summary ? summary.message : 'nothing trimmed');
    return findings;
  },
};
