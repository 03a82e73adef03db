#!/usr/bin/env python3
"""Independent check of examples/events/ against the published upload-object schema.

Python's `jsonschema` (Draft 2020-12, formats asserted) validates every example against
generated/schema/upload-object.bundle.json, so the examples, and through them our Rust
validator, are checked by a second implementation:

  valid/*      must parse and be valid
  invalid/*    must parse (strictly) and be invalid under the schema
  malformed/*  must be refused by the strict parser (not JSON, or ambiguous JSON)

The Rust test runtime/contract/tests/examples.rs asserts the same verdicts for the same folders
with `eventpulse_contract_rt::Validator` (Rejection::Schema for invalid/, Rejection::Parse for
malformed/). Both sides are checked against the verdict implied by the folder, so when both
pass, Rust and Python agree on every example: there is no separate comparison step.

It also checks that every constraint of the schema (each assertion keyword reachable from
the root, each required property) is broken by at least one invalid/ example.

Exit status: 0 all verdicts as expected, 1 some verdict or coverage check failed,
2 the checker itself is unusable (format checking inactive, schema does not load).

Usage: check_examples.py [--json] [--examples DIR] [--schema FILE] [-v]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = ROOT / "generated" / "schema" / "upload-object.bundle.json"
DEFAULT_EXAMPLES = ROOT / "examples" / "events"

# What each folder must produce.
EXPECTED = {"valid": "valid", "invalid": "schema", "malformed": "parse"}

# serde_json refuses to open a 128th nested array/object (its recursion limit), so the
# strict parser on the Rust side accepts at most 127 levels. Mirror that exactly.
MAX_DEPTH = 127
MIN_INVALID_EXAMPLES = 30

# Assertion keywords whose failure is a constraint an example can break.
ASSERTIONS = (
    "type", "enum", "const", "format", "pattern", "minLength", "maxLength", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties", "additionalProperties", "required",
)


class ParseFailure(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Strict parsing: what eventpulse_contract_rt::json::parse refuses, refused here too.


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ParseFailure(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _no_constants(name):
    raise ParseFailure(f"{name} is not JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ParseFailure(f"number {text} is out of range")
    return value


def _int(text):
    value = int(text)
    # serde_json reads integers beyond 64 bits as a float; beyond f64 that is an error.
    if not -(2**63) <= value < 2**64:
        _finite_float(text)
    return value


def _check_tree(value, depth=1):
    """Nesting depth, and strings that are not Unicode scalar values (lone surrogates from
    `\\ud800`-style escapes, which Python accepts and serde_json refuses)."""
    if isinstance(value, (dict, list)):
        if depth > MAX_DEPTH:
            raise ParseFailure(f"nested deeper than {MAX_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(k, str):
                _check_str(k)
            _check_tree(v, depth + 1)
    elif isinstance(value, str):
        _check_str(value)


def _check_str(s):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseFailure("string with a lone surrogate") from None


def strict_parse(data: bytes):
    if data.startswith(b"\xef\xbb\xbf"):
        raise ParseFailure("starts with a UTF-8 byte order mark")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise ParseFailure(f"invalid UTF-8 at byte {e.start}") from None
    if not text.strip(" \t\r\n"):
        raise ParseFailure("empty document")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite_float,
            parse_int=_int,
        )
    except json.JSONDecodeError as e:
        raise ParseFailure(f"invalid JSON: {e}") from None
    except RecursionError:
        raise ParseFailure("nested too deeply") from None
    except ValueError as e:  # int() refusing a huge literal
        raise ParseFailure(f"invalid number: {e}") from None
    try:
        _check_tree(value)
    except RecursionError:
        raise ParseFailure("nested too deeply") from None
    return value


# ---------------------------------------------------------------------------------------
# Format checking must really be on: without the optional packages, jsonschema silently
# treats `date-time` and `uri` as always valid.


def self_check(validator_cls) -> list[str]:
    problems = []
    checker = validator_cls.FORMAT_CHECKER
    cases = [
        ("date-time", "2026-02-30T10:00:00Z", False),
        ("date-time", "2026-02-28T10:00:00Z", True),
        ("uri", "not a uri", False),
        ("uri", "https://example.com/a?b=c#d", True),
    ]
    for fmt, value, want in cases:
        if fmt not in checker.checkers:
            problem = f"no checker for format {fmt!r} (missing package?)"
            if problem not in problems:
                problems.append(problem)
            continue
        got = validator_cls({"type": "string", "format": fmt}, format_checker=checker).is_valid(
            value
        )
        if got != want:
            problems.append(
                f"format {fmt!r}: {value!r} {'accepted' if got else 'rejected'}, "
                f"expected {'accepted' if want else 'rejected'}"
            )
    return problems


# ---------------------------------------------------------------------------------------
# Which constraints an invalid document breaks, as locations in the bundle, e.g.
# "/$defs/OrderPlacedData/properties/currency/pattern".


class Bundle:
    def __init__(self, schema: dict):
        self.schema = schema
        # Alternatives of one oneOf (the event variants, say) repeat the same constraints:
        # the envelope's `required`, `additionalProperties`, ... Breaking one in any variant
        # covers it, so their locations share a label like "/$defs/{A|B|C}/required/data".
        self.aliases: dict[str, str] = {}
        self._find_alternatives(schema)

    def _find_alternatives(self, node):
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if isinstance(branches, list) and all(
                isinstance(b, dict) and set(b) == {"$ref"} and b["$ref"].startswith("#/$defs/")
                for b in branches
            ):
                names = [b["$ref"][len("#/$defs/"):] for b in branches]
                label = "/$defs/{" + "|".join(names) + "}"
                for n in names:
                    self.aliases[f"/$defs/{n}"] = label
            for v in node.values():
                self._find_alternatives(v)
        elif isinstance(node, list):
            for v in node:
                self._find_alternatives(v)

    def label(self, loc: str) -> str:
        parts = loc.split("/")
        head = "/".join(parts[:3])  # "/$defs/Name"
        if head in self.aliases:
            return self.aliases[head] + loc[len(head):]
        return loc

    def resolve(self, ref: str):
        if not ref.startswith("#"):
            raise ValueError(f"external $ref {ref!r} in a bundle")
        node = self.schema
        pointer = ref[1:]
        for token in filter(None, pointer.split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return pointer, node

    def all_constraints(self) -> set[str]:
        """Every assertion reachable from the root, following $refs."""
        out: set[str] = set()
        seen: set[str] = set()

        def walk(node, loc):
            if not isinstance(node, dict):
                return
            if "$ref" in node:
                target, sub = self.resolve(node["$ref"])
                if target not in seen:
                    seen.add(target)
                    walk(sub, target)
            for kw in ASSERTIONS:
                if kw not in node:
                    continue
                if kw == "required":
                    out.update(f"{loc}/required/{name}" for name in node["required"])
                elif kw == "additionalProperties":
                    if node[kw] is False:
                        out.add(f"{loc}/additionalProperties")
                    else:
                        walk(node[kw], f"{loc}/additionalProperties")
                else:
                    out.add(f"{loc}/{kw}")
            for kw in ("oneOf", "anyOf", "allOf", "prefixItems"):
                for i, sub in enumerate(node.get(kw, [])):
                    walk(sub, f"{loc}/{kw}/{i}")
            for kw in ("properties", "patternProperties", "$defs"):
                if kw == "$defs":
                    continue  # only what is reachable counts
                for name, sub in node.get(kw, {}).items():
                    walk(sub, f"{loc}/{kw}/{name}")
            for kw in ("items", "not", "if", "then", "else", "contains"):
                if isinstance(node.get(kw), dict):
                    walk(node[kw], f"{loc}/{kw}")

        walk(self.schema, "")
        return {self.label(c) for c in out}

    def location(self, error) -> str:
        """Bundle location of the keyword that failed, with $refs resolved."""
        # jsonschema leaves `$ref` out of schema paths: follow a $ref wherever the next
        # token is not a keyword of the referring schema itself.
        node, loc = self.schema, ""
        path = list(error.absolute_schema_path)
        for i, token in enumerate(path):
            while isinstance(node, dict) and "$ref" in node and token not in node:
                loc, node = self.resolve(node["$ref"])
            if i == len(path) - 1:
                break
            node = node[token]
            loc = f"{loc}/{token}"
        keyword = path[-1]
        if keyword == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            return self.label(f"{loc}/required/{missing}")
        return self.label(f"{loc}/{keyword}")

    def matches(self, schema, instance, discriminate: bool) -> bool:
        """Whether a oneOf branch is the one this instance is meant to be: its `type`
        matches and, with `discriminate`, so does an event variant's fixed `type` value."""
        if "$ref" in schema:
            _, schema = self.resolve(schema["$ref"])
        if "oneOf" in schema and "type" not in schema:
            return any(self.matches(b, instance, discriminate) for b in schema["oneOf"])
        kinds = {"object": dict, "array": list, "string": str}
        want = schema.get("type")
        if want in kinds and not isinstance(instance, kinds[want]):
            return False
        type_enum = schema.get("properties", {}).get("type", {}).get("enum")
        if discriminate and type_enum is not None and isinstance(instance, dict):
            return instance.get("type") in type_enum
        return True

    def broken(self, errors) -> set[str]:
        """Leaf constraints behind `errors`, looking into the intended oneOf branches only
        (a page.view event is not also reported as a broken order.placed event)."""
        out: set[str] = set()
        for e in errors:
            if e.validator == "oneOf" and e.context:
                branches = e.validator_value
                chosen = {i for i, b in enumerate(branches) if self.matches(b, e.instance, True)}
                if not chosen:  # e.g. an unknown event type: any event variant
                    chosen = {
                        i for i, b in enumerate(branches) if self.matches(b, e.instance, False)
                    }
                if not chosen:
                    chosen = set(range(len(branches)))
                out |= self.broken(c for c in e.context if c.relative_schema_path[0] in chosen)
            else:
                out.add(self.location(e))
        return out


# ---------------------------------------------------------------------------------------


def check(examples: Path, schema_path: Path):
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    bundle = Bundle(schema)
    results = []
    for folder, expected in EXPECTED.items():
        for path in sorted((examples / folder).glob("*.json")):
            rel = f"{folder}/{path.name}"
            entry = {"file": rel, "expected": expected}
            try:
                doc = strict_parse(path.read_bytes())
            except ParseFailure as e:
                entry.update(verdict="parse", reason=str(e))
            else:
                errors = list(validator.iter_errors(doc))
                if errors:
                    entry.update(verdict="schema", broken=sorted(bundle.broken(errors)))
                else:
                    entry.update(verdict="valid")
            entry["ok"] = entry["verdict"] == expected
            results.append(entry)
    every = bundle.all_constraints()
    covered = set()
    for r in results:
        if r["file"].startswith("invalid/"):
            covered |= set(r.get("broken", []))
    return results, every, covered


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    ap.add_argument("--examples", type=Path, default=DEFAULT_EXAMPLES)
    ap.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    ap.add_argument("-v", "--verbose", action="store_true", help="show what each file breaks")
    args = ap.parse_args()

    problems = self_check(Draft202012Validator)
    if problems:
        for p in problems:
            print(f"check_examples: format checking is not active: {p}", file=sys.stderr)
        print(
            "check_examples: install tools/requirements.txt (rfc3339-validator, "
            "rfc3986-validator) into the Python running this script",
            file=sys.stderr,
        )
        return 2

    try:
        results, every, covered = check(args.examples, args.schema)
    except Exception as e:  # noqa: BLE001 - any failure here makes the check unusable
        print(f"check_examples: cannot check: {e}", file=sys.stderr)
        return 2

    uncovered = sorted(every - covered)
    failed = [r for r in results if not r["ok"]]
    invalid_count = sum(r["file"].startswith("invalid/") for r in results)
    count_ok = invalid_count >= MIN_INVALID_EXAMPLES

    if args.json:
        json.dump(
            {
                "results": results,
                "constraints": len(every),
                "uncovered": uncovered,
                "ok": not failed and not uncovered and count_ok,
            },
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        print()
    else:
        print("format checking active: date-time and uri verified (2026-02-30, 'not a uri' refused)")
        for r in results:
            mark = "ok  " if r["ok"] else "FAIL"
            line = f"{mark} {r['verdict']:<6} {r['file']}"
            if not r["ok"]:
                line += f"  (expected {r['expected']})"
            if r["verdict"] == "parse" and (args.verbose or not r["ok"]):
                line += f"  [{r['reason']}]"
            if r["verdict"] == "schema" and (args.verbose or not r["ok"]):
                line += "  [" + ", ".join(r["broken"]) + "]"
            print(line)
        by = {k: sum(r["file"].startswith(k + "/") for r in results) for k in EXPECTED}
        print(
            f"{len(results)} examples ({by['valid']} valid, {by['invalid']} invalid, "
            f"{by['malformed']} malformed): {len(results) - len(failed)} as expected, "
            f"{len(failed)} not"
        )
        print(f"constraint coverage: {len(every) - len(uncovered)}/{len(every)} constraints "
              "broken by at least one invalid example")
        for u in uncovered:
            print(f"  not covered: {u}")
        if not count_ok:
            print(f"only {invalid_count} invalid examples; at least {MIN_INVALID_EXAMPLES} required")
    return 0 if not failed and not uncovered and count_ok else 1


if __name__ == "__main__":
    sys.exit(main())
