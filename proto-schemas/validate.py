#!/usr/bin/env python3
"""Validate JSON documents against mcpd's payload schemas with an independent JSON Schema
2020-12 implementation: python-jsonschema >= 4.0 (Debian: apt-get install python3-jsonschema).

  proto-schemas/validate.py tool-request body.json [more.json ...]   # check your own documents
  proto-schemas/validate.py --examples                               # check every example here

Exit status 0 when every document is judged as expected.
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator

try:  # jsonschema >= 4.18
    from referencing import Registry, Resource
except ImportError:  # older releases, e.g. Debian bookworm's 4.10
    Registry = None

HERE = pathlib.Path(__file__).resolve().parent


def validator(payload):
    # Every file is registered under its (relative) $id, so "defs.schema.json#/..." resolves.
    schemas = [json.loads(p.read_text()) for p in HERE.glob("*.schema.json")]
    schema = json.loads((HERE / f"{payload}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    if Registry is None:
        from jsonschema import RefResolver
        store = {s["$id"]: s for s in schemas}
        resolver = RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
        return Draft202012Validator(schema, resolver=resolver)
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    return Draft202012Validator(schema, registry=registry)


def report(v, path, expect_valid, shown=None):
    shown = shown or path  # what to print: the examples relative to this directory
    errors = list(v.iter_errors(json.loads(pathlib.Path(path).read_text())))
    for e in errors:
        print(f"{shown}: {e.json_path}: {e.message}")
    if not errors:
        print(f"{shown}: valid")
    return (not errors) == expect_valid


def main(argv):
    if argv[1:] == ["--examples"]:
        ok = True
        for d in sorted((HERE / "examples").iterdir()):
            v = validator(d.name)
            for kind in ("valid", "invalid"):
                for f in sorted((d / kind).glob("*.json")):
                    ok &= report(v, f, kind == "valid", f.relative_to(HERE))
        return 0 if ok else 1
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    v = validator(argv[1])
    return 0 if all([report(v, f, True) for f in argv[2:]]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
