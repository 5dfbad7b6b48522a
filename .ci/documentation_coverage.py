#!/usr/bin/env python3
"""Lists every public symbol of a module's symbol graph (the one swift-docc-plugin extracts,
or `swift build -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc DIR`)
that has no doc comment, and exits 1 when there is one.

Exempt, because DocC shows the documentation they inherit: members that a protocol extension
adds to conforming types (identifiers with ::SYNTHESIZED::), default implementations of a
protocol's requirements (defaultImplementationOf), and a conforming type's implementations
of a requirement (a member named as a requirement of a protocol the type conforms to,
directly or through inheritance; the standard library's protocols by the table below).

Usage: documentation_coverage.py SYMBOL_GRAPH_DIR [MODULE]   (MODULE: DeepLearning)
"""
import glob
import json
import os
import sys
from collections import defaultdict

# Requirements of the standard library's protocols our types conform to.
EXTERNAL_REQUIREMENTS = {
    "s:s23CustomStringConvertibleP": {"description"},
    "s:SG": {"next()"},                        # RandomNumberGenerator
    "s:SQ": {"==(_:_:)"},                      # Equatable
    "s:SH": {"hash(into:)", "hashValue"},      # Hashable
    "s:s5ErrorP": set(),
    "s:s8SendableP": set(),
}


def main():
    directory = sys.argv[1]
    module = sys.argv[2] if len(sys.argv) > 2 else "DeepLearning"
    symbols, relationships = {}, []
    paths = glob.glob(os.path.join(directory, module + ".symbols.json"))
    paths += glob.glob(os.path.join(directory, module + "@*.symbols.json"))   # extensions
    for path in paths:
        with open(path) as file:
            graph = json.load(file)
        for symbol in graph["symbols"]:
            symbols[symbol["identifier"]["precise"]] = symbol
        relationships += graph["relationships"]

    requirements = defaultdict(set, {k: set(v) for k, v in EXTERNAL_REQUIREMENTS.items()})
    supertypes = defaultdict(set)        # type or protocol -> what it conforms to or inherits
    parent = {}
    defaults = set()
    for relation in relationships:
        source, target, kind = relation["source"], relation["target"], relation["kind"]
        if kind == "requirementOf" or kind == "optionalRequirementOf":
            requirements[target].add(symbols[source]["pathComponents"][-1] if source in symbols else "")
        elif kind in ("conformsTo", "inheritsFrom"):
            supertypes[source].add(target)
        elif kind == "memberOf":
            parent[source] = target
        elif kind == "defaultImplementationOf":
            defaults.add(source)

    def inherited_names(type_id):
        names, stack, seen = set(), [type_id], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            names |= requirements.get(current, set())
            stack += supertypes.get(current, ())
        return names

    missing = []
    for precise, symbol in symbols.items():
        if symbol.get("accessLevel") not in ("public", "open") or symbol.get("docComment"):
            continue
        if "::SYNTHESIZED::" in precise or precise in defaults:
            continue
        name = symbol["pathComponents"][-1]
        owner = parent.get(precise)
        if owner is not None and name in inherited_names(owner) - {""}:
            continue
        location = symbol.get("location", {})
        file = location.get("uri", "").split("/Sources/")[-1]
        line = location.get("position", {}).get("line", -1) + 1
        missing.append((file, line, symbol["kind"]["displayName"], ".".join(symbol["pathComponents"])))

    for file, line, kind, path in sorted(missing):
        print(f"{file}:{line}: undocumented public {kind.lower()} {path}")
    print(f"documentation coverage: {len(symbols)} symbols, {len(missing)} public without a doc comment")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
