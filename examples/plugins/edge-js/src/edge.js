// The logic of the edge stage, in plain JavaScript (no WIT import): testable with `npm test`.
//
// It trims a release for single-node edge clusters: for each optional operator the config
// names, it removes the operator's manifests (`0000_NN_<operator>_*`) and the component images
// the config lists for it, then checks that no remaining manifest still names a removed image.
// `trim(config, payload)` works on anything with the payload resource's methods it uses
// (`images`, `image`, `removeImage`, `manifests`, `removeManifest`, `grepManifests`): the
// component glue (`stage.js`) passes the real resource, the tests a fake.

export const NAME = 'edge-trim';
export const VERSION = '0.1.0';
export const DESCRIPTION =
  'Trims a release for single-node edge clusters: drops named optional operators, their ' +
  'manifests and their images, and reports what it removed';

export const CONFIG_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['drop'],
  properties: {
    drop: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['operator'],
        properties: {
          operator: { type: 'string' },
          images: { type: 'array', items: { type: 'string' } },
          optional: { type: 'boolean', default: false },
        },
      },
    },
  },
};

/** Components a cluster cannot run without: never dropped. */
export const PROTECTED = [
  'cluster-version-operator',
  'machine-config-operator',
  'cluster-kube-apiserver-operator',
  'cluster-etcd-operator',
];

/** A stage config error; the message names the key. */
export class ConfigError extends Error {}

function fail(message) {
  throw new ConfigError(message);
}

/** Validates the stage config and returns the list of operators to drop. */
export function parseConfig(raw) {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('the config must be a table');
  for (const key of Object.keys(raw)) {
    if (key !== 'drop') fail(`unknown key \`${key}\` (expected drop)`);
  }
  if (!Array.isArray(raw.drop) || raw.drop.length === 0) {
    fail('`drop` is required: a list of `{ operator = "…", images = ["…"] }`');
  }
  const seen = new Set();
  return raw.drop.map((entry, i) => {
    const at = `drop[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(`\`${at}\` must be a table`);
    for (const key of Object.keys(entry)) {
      if (!['operator', 'images', 'optional'].includes(key)) {
        fail(`unknown key \`${at}.${key}\` (expected operator, images, optional)`);
      }
    }
    const { operator } = entry;
    if (typeof operator !== 'string' || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(operator)) {
      fail(`\`${at}.operator\` must be a component name such as \`cluster-baremetal-operator\``);
    }
    if (seen.has(operator)) fail(`\`${at}.operator\`: \`${operator}\` is listed twice`);
    seen.add(operator);
    const images = entry.images ?? [operator];
    if (!Array.isArray(images) || !images.every((t) => typeof t === 'string' && t.length > 0)) {
      fail(`\`${at}.images\` must be a list of image tags`);
    }
    for (const name of [operator, ...images]) {
      if (PROTECTED.includes(name)) fail(`\`${at}\`: \`${name}\` cannot be dropped, a cluster needs it`);
    }
    const optional = entry.optional ?? false;
    if (typeof optional !== 'boolean') fail(`\`${at}.optional\` must be true or false`);
    return { operator, images, optional };
  });
}

function finding(check, message, subject, passed = true, severity = 'info') {
  return { check, passed, severity, subject, message };
}

/** The manifests of one operator: `0000_NN_<operator>_…`. */
export function operatorManifests(names, operator) {
  const prefix = new RegExp(`^0000_[0-9]{2}_${operator.replace(/-/g, '\\-')}_`);
  return names.filter((n) => prefix.test(n));
}

/**
 * Runs the stage. Returns the findings; throws `ConfigError` for a bad config and `Error` for
 * an operator the release does not have (unless `optional`).
 */
export function trim(configJson, payload) {
  const drops = parseConfig(configJson.trim() === '' ? {} : JSON.parse(configJson));
  const findings = [];
  const removedPullspecs = new Map(); // pullspec -> tag
  let manifestCount = 0;
  let imageCount = 0;
  for (const { operator, images, optional } of drops) {
    const manifests = operatorManifests(payload.manifests(), operator);
    const present = images.filter((tag) => payload.image(tag) !== undefined);
    if (manifests.length === 0 && present.length === 0) {
      if (!optional) {
        throw new Error(
          `operator \`${operator}\` is not in the release (no manifest \`0000_NN_${operator}_*\`, ` +
            `no image ${images.map((t) => `\`${t}\``).join(', ')}); set \`optional = true\` to allow this`,
        );
      }
      findings.push(finding('operator-dropped', `not in the release: nothing to drop`, operator, false, 'warning'));
      continue;
    }
    for (const tag of present) {
      const image = payload.image(tag);
      payload.removeImage(tag);
      removedPullspecs.set(image.pullspec, tag);
      findings.push(finding('image-dropped', `removed ${image.pullspec}`, tag));
    }
    for (const name of manifests) {
      payload.removeManifest(name);
      findings.push(finding('manifest-dropped', `removed with \`${operator}\``, name));
    }
    const missing = images.filter((t) => !present.includes(t));
    findings.push(
      finding(
        'operator-dropped',
        `removed ${manifests.length} manifests and ${present.length} images` +
          (present.length ? ` (${present.join(', ')})` : '') +
          (missing.length ? `; not in the release: ${missing.join(', ')}` : ''),
        operator,
      ),
    );
    manifestCount += manifests.length;
    imageCount += present.length;
  }
  // A pullspec still used by a remaining tag is not dangling.
  for (const image of payload.images()) removedPullspecs.delete(image.pullspec);
  let dangling = 0;
  for (const [pullspec, tag] of removedPullspecs) {
    for (const name of payload.grepManifests(pullspec)) {
      dangling += 1;
      findings.push(
        finding(
          'no-dangling-images',
          `still names the dropped image \`${tag}\` (${pullspec}): drop its operator too, or keep the image`,
          name,
          false,
          'error',
        ),
      );
    }
  }
  if (dangling === 0) {
    findings.push(finding('no-dangling-images', 'no remaining manifest names a dropped image'));
  }
  findings.push(
    finding(
      'edge-trim',
      `dropped ${drops.length} operators: ${imageCount} images and ${manifestCount} manifests removed`,
    ),
  );
  return findings;
}
