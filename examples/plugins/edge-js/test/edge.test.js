// Tests of the edge stage's logic, natively: `npm test` (node's test runner).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigError, trim } from '../src/edge.js';

/** The payload resource's methods the stage uses, over plain maps. */
class FakePayload {
  constructor(images, manifests) {
    this.imageMap = new Map(Object.entries(images).map(([name, pullspec]) => [name, { name, pullspec, annotations: [] }]));
    this.files = new Map(Object.entries(manifests));
  }
  images() { return [...this.imageMap.values()]; }
  image(name) { return this.imageMap.get(name); }
  removeImage(name) { return this.imageMap.delete(name); }
  manifests() { return [...this.files.keys()].sort(); }
  removeManifest(name) { return this.files.delete(name); }
  grepManifests(needle) { return this.manifests().filter((n) => this.files.get(n).includes(needle)); }
}

const sample = () =>
  new FakePayload(
    { 'cluster-autoscaler-operator': 'q/a@sha256:1', 'cluster-autoscaler': 'q/a@sha256:2', console: 'q/a@sha256:3' },
    {
      '0000_50_cluster-autoscaler-operator_00_namespace.yaml': 'kind: Namespace',
      '0000_50_cluster-autoscaler-operator_11_deployment.yaml': 'image: q/a@sha256:1 q/a@sha256:2',
      '0000_50_console-operator_11_deployment.yaml': 'image: q/a@sha256:3',
    },
  );

test('drops the operator, its manifests and its images, and reports them', () => {
  const payload = sample();
  const config = { drop: [{ operator: 'cluster-autoscaler-operator', images: ['cluster-autoscaler-operator', 'cluster-autoscaler'] }] };
  const findings = trim(JSON.stringify(config), payload);
  assert.deepEqual(payload.manifests(), ['0000_50_console-operator_11_deployment.yaml']);
  assert.deepEqual(payload.images().map((i) => i.name), ['console']);
  assert.equal(findings.filter((f) => f.check === 'manifest-dropped').length, 2);
  assert.equal(findings.filter((f) => f.check === 'image-dropped').length, 2);
  assert.ok(findings.every((f) => f.passed));
  assert.match(findings.at(-1).message, /2 images and 2 manifests removed/);
});

test('a manifest still naming a dropped image is an error finding', () => {
  const payload = sample();
  const findings = trim(JSON.stringify({ drop: [{ operator: 'console-operator', images: ['cluster-autoscaler'] }] }), payload);
  const dangling = findings.filter((f) => !f.passed);
  assert.equal(dangling.length, 1);
  assert.equal(dangling[0].severity, 'error');
  assert.equal(dangling[0].subject, '0000_50_cluster-autoscaler-operator_11_deployment.yaml');
});

test('an operator the release lacks is an error unless optional', () => {
  assert.throws(() => trim('{"drop":[{"operator":"insights-operator"}]}', sample()), /not in the release/);
  const findings = trim('{"drop":[{"operator":"insights-operator","optional":true}]}', sample());
  assert.equal(findings[0].severity, 'warning');
});

test('bad config names the key', () => {
  for (const [config, words] of [
    [{}, /`drop` is required/],
    [{ drop: [{ operator: 'x' }], keep: [] }, /unknown key `keep`/],
    [{ drop: [{ operator: 'x', image: [] }] }, /unknown key `drop\[0\]\.image`/],
    [{ drop: [{ operator: 'cluster-version-operator' }] }, /cannot be dropped/],
    [{ drop: [{ operator: 'Bad Name' }] }, /drop\[0\]\.operator/],
  ]) {
    assert.throws(() => trim(JSON.stringify(config), sample()), (e) => e instanceof ConfigError && words.test(e.message));
  }
});
