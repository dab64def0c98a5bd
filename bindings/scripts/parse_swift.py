"""Parses Swift files with tree-sitter-swift; fails on any ERROR or MISSING node.

    python parse_swift.py FILE...

Prints file:line:column of each problem and one line per file. Run by `cargo xtask swift`
(bindings/scripts/check-swift.sh), in the venv where tree-sitter and tree-sitter-swift are
installed. Swift cannot be compiled on the Linux CI: this is a syntax check only (no types,
no imports).
"""
import re
import sys

import tree_sitter_swift
from tree_sitter import Language, Parser

# Valid Swift that tree-sitter-swift 0.7.x cannot parse, rewritten to an equivalent form before
# parsing, keeping every line where it is (so reported lines stay true). Both occur only in
# UniFFI's generated code; each rewrite is counted in the output. Nothing else is rewritten.
#  1. an attribute alone between `#if swift(>=5.8)` and `#endif`, in front of a declaration:
#     the two directive lines are blanked, the attribute stays (and is parsed);
#  2. a closure returning the empty tuple, `{ () }`, becomes `{ Void() }`.
CONDITIONAL_ATTRIBUTE = re.compile(rb"^([ \t]*#if swift\(>=[0-9.]+\)[ \t]*)\n([ \t]*@[A-Za-z_][^\n]*)\n([ \t]*#endif[ \t]*)$", re.M)
EMPTY_TUPLE_CLOSURE = re.compile(rb"\{ \(\) \}")


def normalize(source):
    rewrites = 0

    def blank_directives(m):
        nonlocal rewrites
        rewrites += 1
        return b"\n" + m.group(2) + b"\n"

    source = CONDITIONAL_ATTRIBUTE.sub(blank_directives, source)
    source, n = EMPTY_TUPLE_CLOSURE.subn(b"{ Void() }", source)
    return source, rewrites + n


parser = Parser(Language(tree_sitter_swift.language()))
bad = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        original = f.read()
    source, rewrites = normalize(original)
    assert source.count(b"\n") == original.count(b"\n"), "rewrites must keep lines"
    lines = source.splitlines()
    tree = parser.parse(source)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            row = node.start_point[0]
            text = lines[row].decode("utf-8", "replace").strip() if row < len(lines) else ""
            problems.append((row + 1, node.start_point[1] + 1, kind, text))
            if node.is_error:
                continue  # one report per error subtree
        if node.has_error:
            stack.extend(node.children)
    for line_no, col, kind, text in sorted(problems):
        print(f"{path}:{line_no}:{col}: {kind}: {text[:100]}")
    bad += bool(problems)
    note = f", {rewrites} known-gap rewrites" if rewrites else ""
    print(f"{'FAIL' if problems else 'ok  '} {path} ({len(lines)} lines{note})")
print(f"swift: {len(sys.argv) - 1 - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
