"""Validates Kubernetes objects against a CRD's openAPIV3Schema (a JSON copy
under fixtures/schemas/), strictly: unknown fields are errors (the API server
would prune them silently), and the schema's CEL rules
(x-kubernetes-validations) are evaluated by the Python equivalents below;
a rule this script does not know is an error, so that a new schema cannot
pass unchecked.

usage: validate_crd.py SCHEMA.json API_VERSION KIND FILE.yaml...
(exit 1 and one line per problem; every object must be of API_VERSION and KIND)
"""
import ipaddress
import json
import sys

import jsonschema
import yaml


def has(obj, key):
    return isinstance(obj, dict) and key in obj


CEL = {
    "self.start < self.end": lambda s: s["start"] < s["end"],
    "isCIDR(self)": lambda s: ipaddress.ip_network(s, strict=True) is not None,
    "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1":
        lambda s: sum(has(s, k) for k in ("selector", "targetRef", "targetRefs")) <= 1,
    'self.all(key, !key.contains("*"))': lambda s: all("*" not in k for k in s),
    "self.all(key, key.size() != 0)": lambda s: all(len(k) != 0 for k in s),
    '!self.contains("*")': lambda s: "*" not in s,
    "self.size() == 0": lambda s: len(s) == 0,
}


def service_accounts_rule(s):
    """The source rule on serviceAccounts: exclusive with principals and namespaces."""
    if has(s, "serviceAccounts") or has(s, "notServiceAccounts"):
        return not any(has(s, k) for k in ("principals", "notPrincipals", "namespaces", "notNamespaces"))
    return True


def cel(rule):
    if rule.startswith("(has(self.serviceAccounts) || has(self.notServiceAccounts))"):
        return service_accounts_rule
    return CEL.get(rule)


def strict(schema, path=""):
    """Forbids unknown fields wherever the schema lists the properties (not in metadata)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema and path != "/properties/metadata":
            schema["additionalProperties"] = False
        for k, v in schema.items():
            strict(v, f"{path}/{k}")
    elif isinstance(schema, list):
        for v in schema:
            strict(v, path)


def check_cel(schema, obj, where, problems):
    if not isinstance(schema, dict):
        return
    for r in schema.get("x-kubernetes-validations", []):
        f = cel(r["rule"])
        if f is None:
            problems.append(f"{where}: unknown CEL rule (teach validate_crd.py): {r['rule']}")
        elif obj is not None:
            try:
                ok = f(obj)
            except Exception as e:  # a rule that cannot apply is a failure
                ok = False
                r = dict(r, message=f"{r.get('message', '')} ({e})")
            if not ok:
                problems.append(f"{where}: {r.get('message', r['rule'])}")
    if isinstance(obj, dict):
        for k, sub in schema.get("properties", {}).items():
            check_cel(sub, obj.get(k), f"{where}.{k}", problems)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in obj.items():
                check_cel(extra, v, f"{where}.{k}", problems)
    elif isinstance(obj, list) and "items" in schema:
        for i, v in enumerate(obj):
            check_cel(schema["items"], v, f"{where}[{i}]", problems)
    elif obj is None:
        # descend anyway, so that unknown rules are found in every schema
        for sub in schema.get("properties", {}).values():
            check_cel(sub, None, where, problems)
        if isinstance(schema.get("items"), dict):
            check_cel(schema["items"], None, where, problems)


def main():
    schema = json.load(open(sys.argv[1]))
    schema.pop("$comment", None)
    api_version, kind, files = sys.argv[2], sys.argv[3], sys.argv[4:]
    # The API server serves these three at the top of every object.
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props.setdefault("metadata", {"type": "object"})
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    strict(schema)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    check_cel(schema, None, "schema", problems)
    count = 0
    for path in files:
        for i, doc in enumerate(yaml.safe_load_all(open(path))):
            count += 1
            where = f"{path}#{i}"
            for e in validator.iter_errors(doc):
                problems.append(f"{where} at {'/'.join(map(str, e.absolute_path))}: {e.message}")
            check_cel(schema, doc, where, problems)
            name = doc.get("metadata", {}).get("name", "")
            if not name or len(name) > 253:
                problems.append(f"{where}: bad metadata.name {name!r}")
    for p in problems:
        print(p)
    print(f"checked {count} object(s)", file=sys.stderr)
    sys.exit(1 if problems or count == 0 else 0)


main()
