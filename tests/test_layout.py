"""The package layout (issue 23): the library imports nothing from trainers/ or export/, its module-level
imports have no cycles, and the wheel installs only gif_pipeline."""
import ast
import os

import checks

PACKAGE = os.path.join(checks.ROOT, "gif_pipeline")


def _modules():
    for root, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, checks.ROOT)[:-3].replace(os.sep, ".")
                yield (rel[: -len(".__init__")] if rel.endswith(".__init__") else rel), path


def _imports(path, top_level_only: bool):
    """Absolute module names imported by the file (``from a import b`` gives ``a.b`` and ``a``)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_library_imports_nothing_from_trainers_or_export():
    bad = [(name, imported) for name, path in _modules() for imported in _imports(path, top_level_only=False)
           if imported.split(".")[0] in ("trainers", "export", "benchmarks", "tests")]
    assert not bad, bad


def test_module_level_imports_have_no_cycles():
    modules = dict(_modules())
    graph = {name: {i for i in _imports(path, top_level_only=True) if i in modules and i != name}
             for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how a package is assembled, not a cycle.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not d.startswith(name + ".")}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_the_wheel_holds_gif_pipeline_only_with_the_runtime_weights_and_registry():
    import re

    setup = open(os.path.join(checks.ROOT, "setup.py"), encoding="utf-8").read()
    include = ast.literal_eval(re.search(r"find_packages\(include=(\[[^\]]*\])\)", setup).group(1))
    assert all(p == "gif_pipeline" or p.startswith("gif_pipeline.") for p in include), include
    from setuptools import find_packages

    packages = find_packages(checks.ROOT, include=include)
    assert "gif_pipeline.models.gifnets" in packages and not any(p.split(".")[0] != "gif_pipeline" for p in packages)
    for pattern in ("weights/*.tflite", "weights/*.md", "weights/*.json"):
        assert pattern in setup, pattern
    assert '"weights/*.keras"' not in setup  # gifnets-keras-weights (keras_weights/): tests/weights/test_packaging.py
