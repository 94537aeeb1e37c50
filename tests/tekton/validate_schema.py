#!/usr/bin/env python3
"""Validate Tekton documents (a multi-document YAML file) without a cluster.

Each `tekton.dev/v1` Pipeline is checked against
  (a) the `v1` openAPIV3Schema of Tekton's Pipeline CRD (what the API server checks), and
  (b) `#/definitions/v1.Pipeline` of Tekton's published OpenAPI document (the Go types the
      webhook decodes into);
each PipelineRun against `#/definitions/v1.PipelineRun` of the OpenAPI document; and
  (c) every embedded `taskSpec` against `#/definitions/v1.EmbeddedTask`.

Strict like `kubectl apply --validate=strict`: every object schema that lists `properties`
and says nothing of `additionalProperties` or `x-kubernetes-preserve-unknown-fields` refuses
fields it does not list. `$ref`s whose definitions the OpenAPI document does not hold are
Kubernetes core types (ObjectMeta, EnvVar, Volume, ...): anything is accepted there.

Usage: validate_schema.py FILE [--crd 300-pipeline.yaml] [--openapi v1-swagger.json]
Exit status: 0 valid, 1 violations (each listed with its JSON path), 2 unusable input.
"""

import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "tekton")
API_VERSION = "tekton.dev/v1"

# `v1.ParamValue` (also `ResultValue`) has its own MarshalJSON/UnmarshalJSON: on the wire it
# is a string, a list of strings or an object of strings, not the struct
# {Type, StringVal, ArrayVal, ObjectVal} the OpenAPI document describes.
WIRE_FORMS = {
    "v1.ParamValue": {
        "description": "a string, a list of strings or an object of strings",
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ],
    },
}


def strict(schema):
    """A copy of `schema` in which every object schema with `properties` and neither
    `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` refuses other fields."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        if (
            isinstance(node.get("properties"), dict)
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    visit(sub)
            elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
                visit(value)
            elif key in ("allOf", "anyOf", "oneOf", "items") and isinstance(value, list):
                visit(value)
            elif key == "definitions" and isinstance(value, dict):
                for sub in value.values():
                    visit(sub)

    visit(schema)
    return schema


def crd_validator(path):
    """The validator of the CRD's `v1` openAPIV3Schema."""
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        for version in doc.get("spec", {}).get("versions", []):
            if version.get("name") == "v1":
                schema = version["schema"]["openAPIV3Schema"]
                return jsonschema.Draft4Validator(strict(schema))
    raise SystemExit(f"{path}: no CustomResourceDefinition with a v1 schema")


def openapi_validators(path, names):
    """Validators of `#/definitions/NAME` of the OpenAPI (swagger 2.0) document, refs
    resolved inside it, missing definitions accepting anything."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    document = json.loads(text)
    definitions = strict({"definitions": document.get("definitions", {})})["definitions"]
    for ref in set(re.findall(r'"\$ref"\s*:\s*"#/definitions/([^"]+)"', text)):
        definitions.setdefault(ref, {})  # a Kubernetes core type: not checked here
    # Types whose Go (un)marshalling differs from their struct: the OpenAPI document shows the
    # struct, the webhook decodes the wire form.
    definitions.update(WIRE_FORMS)
    validators = {}
    for name in names:
        if name not in document.get("definitions", {}):
            raise SystemExit(f"{path}: no definition `{name}`")
        root = {"$ref": f"#/definitions/{name}", "definitions": definitions}
        validators[name] = jsonschema.Draft4Validator(root)
    return validators


def json_path(base, path):
    out = base
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def errors(validator, instance, base, check):
    return [
        (json_path(base, error.absolute_path), check, error.message)
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="a YAML file of Tekton documents ('-' for stdin)")
    parser.add_argument("--crd", default=os.path.join(FIXTURES, "300-pipeline.yaml"))
    parser.add_argument("--openapi", default=os.path.join(FIXTURES, "v1-swagger.json"))
    args = parser.parse_args()

    try:
        if args.file == "-":
            docs = list(yaml.safe_load_all(sys.stdin))
        else:
            with open(args.file, encoding="utf-8") as f:
                docs = list(yaml.safe_load_all(f))
    except (OSError, yaml.YAMLError) as e:
        print(f"error: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    docs = [d for d in docs if d is not None]
    if not docs:
        print(f"error: {args.file} holds no documents", file=sys.stderr)
        return 2

    crd = crd_validator(args.crd)
    openapi = openapi_validators(
        args.openapi, ["v1.Pipeline", "v1.PipelineRun", "v1.EmbeddedTask"]
    )

    violations = []
    counts = {}
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            violations.append((f"document {i + 1}", "document", "not an object"))
            continue
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name") or (doc.get("metadata") or {}).get(
            "generateName", ""
        )
        label = f"{kind}/{name}" if name else f"document {i + 1}"
        base = f"{label}: $"
        if doc.get("apiVersion") != API_VERSION:
            violations.append(
                (f"{base}.apiVersion", "document", f"expected {API_VERSION}, not {doc.get('apiVersion')!r}")
            )
            continue
        if kind == "Pipeline":
            violations += errors(crd, doc, base, "crd v1 openAPIV3Schema")
            violations += errors(openapi["v1.Pipeline"], doc, base, "openapi v1.Pipeline")
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
            for section in ("tasks", "finally"):
                tasks = spec.get(section)
                for j, task in enumerate(tasks if isinstance(tasks, list) else []):
                    if isinstance(task, dict) and "taskSpec" in task:
                        violations += errors(
                            openapi["v1.EmbeddedTask"],
                            task["taskSpec"],
                            f"{base}.spec.{section}[{j}].taskSpec",
                            "openapi v1.EmbeddedTask",
                        )
        elif kind == "PipelineRun":
            violations += errors(openapi["v1.PipelineRun"], doc, base, "openapi v1.PipelineRun")
        else:
            violations.append((f"{base}.kind", "document", f"no schema for kind {kind!r}"))
            continue
        counts[kind] = counts.get(kind, 0) + 1

    if violations:
        for path, check, message in violations:
            print(f"{path}: {message} [{check}]")
        print(f"{len(violations)} violation(s) in {args.file}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"ok: {args.file}: {summary} valid against the CRD and OpenAPI schemas (strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
