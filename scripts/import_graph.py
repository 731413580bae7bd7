#!/usr/bin/env python3
"""The import graph of src/: one node per module file, an edge for every path a file
names into another module (`use` statements and inline `crate::`/`super::`/`marketchat::`
paths; tests and comments left out). Prints the import circles (groups of modules that
reach each other) and the upward imports (a module naming one of a higher layer), and
exits 1 when there is either.

    python3 scripts/import_graph.py          # circles and upward imports
    python3 scripts/import_graph.py --edges  # every edge too
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Layers from the bottom up: a module may name its own layer's modules (without a
# circle) and lower ones, never a higher one.
LAYERS = [
    ["domain", "metrics", "listener"],
    ["store"],
    ["service"],
    ["config"],
    ["realtime"],
    ["api"],
    ["web"],
    ["app"],
    ["demo"],
    ["cli"],
    ["lib", "main", "bin"],
]

INLINE = re.compile(r"\b(crate|super|self|marketchat)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"\buse\s+([^;]+);")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[0] == "bin":
        return "bin::" + parts[1]
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def without_tests_and_comments(text: str) -> str:
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def use_paths(tree: str) -> list[list[str]]:
    """Every path a `use` tree names, as segments (`a::{b, c::d}` gives a::b, a::c::d)."""
    tree = re.sub(r"\s+", "", tree)
    paths: list[list[str]] = []

    def walk(prefix: list[str], text: str) -> None:
        depth, start, items = 0, 0, []
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(text[start:i])
                start = i + 1
        items.append(text[start:])
        for item in filter(None, items):
            if "{" in item:
                head, inner = item.split("{", 1)
                walk(prefix + [s for s in head.split("::") if s], inner[: inner.rfind("}")])
            else:
                item = item.split("as")[0] if re.search(r"\bas\b", item) else item
                paths.append(prefix + [s for s in item.split("::") if s])

    walk([], tree)
    return paths


def resolve(module: str, segments: list[str], modules: set[str]) -> str | None:
    own = [] if module in ("lib", "main") or module.startswith("bin::") else module.split("::")
    root, rest = segments[0], segments[1:]
    if root in ("crate", "marketchat"):
        path = rest
    elif root == "super":
        path = own[:-1] + rest
    elif root == "self":
        path = own + rest
    elif "::".join(own + [root]) in modules:  # a child module named without `self::`
        path = own + segments
    else:
        return None  # std or another crate
    while path:
        candidate = "::".join(path)
        if candidate in modules:
            return candidate
        path = path[:-1]
    return None


def graph() -> dict[str, set[str]]:
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(p) for p in files}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for file in files:
        module = module_of(file)
        text = without_tests_and_comments(file.read_text())
        named = [p for statement in USE.findall(text) for p in use_paths(statement)]
        code = USE.sub("", text)
        named += [[m.group(1)] + m.group(2).strip(":").split("::") for m in INLINE.finditer(code)]
        for segments in named:
            target = resolve(module, segments, modules)
            if target and target != module:
                edges[module].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    top = module.split("::")[0]
    return next((i for i, names in enumerate(LAYERS) if top in names), len(LAYERS))


def main() -> int:
    edges = graph()
    if "--edges" in sys.argv:
        for module in sorted(edges):
            for target in sorted(edges[module]):
                print(f"{module} -> {target}")
    found = circles(edges)
    for component in found:
        inner = [f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component]
        print(f"circle: {', '.join(component)}\n  " + "\n  ".join(inner))
    upward = [(a, b) for a in sorted(edges) for b in sorted(edges[a]) if layer(b) > layer(a)]
    for a, b in upward:
        print(f"upward: {a} -> {b}")
    print(f"{len(found)} import circle(s), {len(upward)} upward import(s) among {len(edges)} modules")
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main())
