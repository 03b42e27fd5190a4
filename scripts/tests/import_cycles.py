#!/usr/bin/env python3
"""Fails on an import cycle between the crate's files.

Builds the graph file -> file from `use crate::a::b`, `crate::a::b::` paths and
`super::` imports (a path resolves to the longest prefix that is a file: src/a/b.rs,
src/a/b/mod.rs or src/a.rs), ignoring a file's own `mod tests` (test code may use
anything) and a module's `pub mod`/`pub use` re-exports of its children, then
reports every strongly connected component with more than one file.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
files = {}
for d, _, names in os.walk(root):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            files[tuple(rel)] = p


def resolve(parts):
    """Longest prefix of a module path that is a file of the crate."""
    for i in range(len(parts), 0, -1):
        if tuple(parts[:i]) in files:
            return tuple(parts[:i])
    return None


PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
edges = {m: set() for m in files}
for mod, path in files.items():
    text = open(path, encoding="utf-8").read()
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    if cut:
        text = text[: cut.start()]
    # Comments (doc links included) are not imports.
    text = re.sub(r"//[^\n]*", "", text)
    # A group import `use crate::a::{b, c::d}`: expand one level.
    text = re.sub(
        r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}",
        lambda m: " ".join(
            f"{m.group(1)}{m.group(2)}::{x.strip()}" for x in m.group(3).split(",") if x.strip()
        ),
        text,
    )
    is_dir_module = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
    for m in PATH.finditer(text):
        segs = [s for s in m.group(2).split("::") if s]
        if m.group(1) == "crate":
            base = []
        else:
            base = list(mod if is_dir_module else mod[:-1])
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
        target = resolve(base + segs)
        if target is None or target == mod:
            continue
        # A parent naming its own child (re-export) is not a dependency of the parent.
        if target[: len(mod)] == mod and len(target) > len(mod):
            continue
        edges[mod].add(target)

# Tarjan's strongly connected components.
index, low, stack, on, sccs = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges[v]:
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
        if len(comp) > 1:
            sccs.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(files):
    if v not in index:
        visit(v)
for comp in sccs:
    names = sorted("/".join(c) or "lib" for c in comp)
    print("import cycle: " + " <-> ".join(names))
    for a in sorted(comp):
        for b in sorted(edges[a] & set(comp)):
            print(f"    {'/'.join(a)} -> {'/'.join(b)}")
sys.exit(1 if sccs else 0)
