#!/usr/bin/env python3
"""Fails when files of the crate import each other in a cycle.

    scripts/tests/import-cycles.py [--root src/lib.rs] [--within DIR]

Imports run one way (ARCHITECTURE.md): if a.rs uses something of b.rs, b.rs
uses nothing of a.rs, directly or through other files. This script builds the
graph of files from the module tree (`mod x;` and inline `mod x { }` from the
crate root) and every path that names a module of the crate: `use` trees and
paths in code (`crate::..`, `super::..`, `self::..` and a child module's
name), comments and string literals left out. A path counts for the deepest
module it names: `super::Emit` in src/sim/output.rs is an import of
src/sim/mod.rs, even when mod.rs only re-exports it. A file and its own inline
modules (`mod tests`) are one node.

It prints each cycle (a strongly connected set of files, with the lines that
make its edges) and exits 1 if there is one. `--within DIR` fails only on
cycles whose files all lie under DIR (the others are still printed).
"""

import argparse
import os
import re
import sys


def strip(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:i + 260])) and (
                i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{1f}', b'x' via the 'b' before it)
            # or a lifetime ('a): only the former is blanked.
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'", text[i:i + 12])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{self, d}, *}` -> [[a, b], [a, c], [a, c, d], [a]] (aliases removed)."""
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def walk(prefix, s):
        # s is one use-tree; split a top-level group.
        for k, ch in enumerate(s):
            if ch == "{":
                head = s[:k].rstrip(":")
                inner = s[k + 1:s.rindex("}")]
                base = prefix + [p for p in head.split("::") if p]
                parts, d, start = [], 0, 0
                for j, c2 in enumerate(inner):
                    if c2 == "{":
                        d += 1
                    elif c2 == "}":
                        d -= 1
                    elif c2 == "," and d == 0:
                        parts.append(inner[start:j])
                        start = j + 1
                parts.append(inner[start:])
                for p in parts:
                    if p:
                        walk(base, p)
                return
        segs = [p for p in s.split("::") if p]
        if segs and segs[-1] in ("self", "*"):
            segs = segs[:-1]
        paths.append(prefix + segs)

    walk([], tree)
    return paths


TOKEN = re.compile(
    r"(?P<moddecl>\bmod\s+(?P<decl>\w+)\s*;)"
    r"|(?P<modopen>\bmod\s+(?P<open>\w+)\s*\{)"
    r"|(?P<use>\buse\s+(?P<tree>[^;]+);)"
    r"|(?P<lb>\{)|(?P<rb>\})"
    r"|(?P<path>(?<![\w:])(?:\w+)(?:\s*::\s*\w+)+)"
)


class Crate:
    def __init__(self, root):
        self.src = os.path.dirname(root)
        self.modules = {}  # module path (tuple) -> file
        self.children = {}  # module path -> set of child names
        self.refs = []  # (file, line, module path, path segments)
        self.load(root, ())

    @staticmethod
    def child_file(file, inline, name):
        """The file of `mod name;` in `file`, inside its inline modules `inline`."""
        d, base = os.path.split(file)
        if base not in ("lib.rs", "main.rs", "mod.rs"):
            d = os.path.join(d, os.path.splitext(base)[0])
        d = os.path.join(d, *inline)
        for c in (os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")):
            if os.path.exists(c):
                return c
        return None

    def load(self, file, mod_path):
        self.modules[mod_path] = file
        self.children.setdefault(mod_path, set())
        text = strip(open(file, encoding="utf-8").read())
        stack = []  # (module path, brace depth at its opening)
        cur, depth = mod_path, 0
        for m in TOKEN.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            if m.group("moddecl"):
                name = m.group("decl")
                f = self.child_file(file, cur[len(mod_path):], name)
                if f is None:
                    print(f"{file}:{line}: no file for `mod {name};`", file=sys.stderr)
                    continue
                self.children[cur].add(name)
                self.load(f, cur + (name,))
            elif m.group("modopen"):
                name = m.group("open")
                self.children[cur].add(name)
                depth += 1
                stack.append((cur, depth))
                cur = cur + (name,)
                self.modules[cur] = file
                self.children.setdefault(cur, set())
            elif m.group("lb"):
                depth += 1
            elif m.group("rb"):
                if stack and stack[-1][1] == depth:
                    cur = stack.pop()[0]
                depth -= 1
            elif m.group("use"):
                tree = re.sub(r"\s+as\s+\w+", "", m.group("tree"))
                tree = re.sub(r"^\s*::", "", tree)
                for segs in expand_use(tree):
                    self.refs.append((file, line, cur, segs))
            elif m.group("path"):
                segs = [s for s in re.split(r"\s*::\s*", m.group("path")) if s]
                self.refs.append((file, line, cur, segs))

    def resolve(self, cur, segs):
        """The file of the deepest crate module `segs` names from module `cur`."""
        if not segs:
            return None
        first, rest = segs[0], segs[1:]
        if first == "crate":
            base = ()
        elif first == "self":
            base = cur
        elif first == "super":
            base = cur[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif first in self.children.get(cur, ()):
            base, rest = cur + (first,), rest
        else:
            return None
        for s in rest:
            if base + (s,) in self.modules:
                base = base + (s,)
            else:
                break
        return self.modules.get(base)

    def graph(self):
        edges = {}
        for file, line, cur, segs in self.refs:
            target = self.resolve(cur, segs)
            if target and target != file:
                edges.setdefault(file, {}).setdefault(target, []).append(line)
        return edges


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="src/lib.rs", help="the crate root (default src/lib.rs)")
    ap.add_argument("--within", help="fail only on cycles whose files all lie under this directory")
    a = ap.parse_args()
    crate = Crate(a.root)
    edges = crate.graph()
    nodes = set(crate.modules.values())
    failing = 0
    for comp in sccs(nodes, edges):
        inside = a.within is None or all(
            os.path.commonpath([os.path.abspath(f), os.path.abspath(a.within)]) == os.path.abspath(a.within)
            for f in comp)
        failing += inside
        print(f"import cycle between {len(comp)} files{'' if inside else ' (outside --within)'}:")
        members = set(comp)
        for f in comp:
            for t, lines in sorted(edges.get(f, {}).items()):
                if t in members:
                    print(f"  {f} -> {t} (line {', '.join(map(str, lines[:5]))}{', ...' if len(lines) > 5 else ''})")
    if failing:
        print(f"{failing} import cycle(s): each type belongs beside the one file that owns it; "
              "move what two files share into a module of its own", file=sys.stderr)
        return 1
    print(f"no import cycle among {len(nodes)} files"
          + (f" under {a.within}" if a.within else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
