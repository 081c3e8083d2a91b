"""The layout shows the architecture: no import circle in the project, no upward import between the
floors of recipe/vogue (its package docstring), no verl in the pure math, and verl's plugin entry points
load and register their names (verl imports them itself and swallows their errors)."""

import ast
import importlib
import importlib.metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("recipe", "vogue_reward", "data_prep")
# recipe/vogue's floors, lowest first; a module imports only from its own floor or lower ones
FLOORS = ("core", "evaluation", "trainer", "preflight", "cpu")
ENTRY_FLOOR = len(FLOORS)  # main_vogue, evaluate, report and the package __init__
# the packages beside recipe, lowest first
PACKAGE_ORDER = ("vogue_reward", "data_prep", "recipe")
MAX_TOP_LEVEL_FILES = 7


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")}


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports anywhere (module level and inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(path, modules) - {name} for name, path in modules.items()}


def floor(module: str) -> int:
    parts = module.split(".")
    if parts[:2] != ["recipe", "vogue"] or len(parts) < 3 or parts[2] not in FLOORS:
        return ENTRY_FLOOR
    return FLOORS.index(parts[2])


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_function_level_imports():
    graph = import_graph()
    assert "recipe.vogue.evaluation.run" in graph["recipe.vogue.cpu.tiny_run"]  # imported inside a function
    assert "recipe.vogue.cpu.platform" in graph["recipe.vogue.cpu"]


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_project():
    assert circles(import_graph()) == []


def test_no_floor_imports_a_higher_one():
    upward = [(source, target) for source, targets in import_graph().items() for target in targets
              if source.startswith("recipe.vogue") and target.startswith("recipe.vogue") and floor(target) > floor(source)]
    assert upward == []


def test_packages_import_only_lower_packages():
    rank = {package: position for position, package in enumerate(PACKAGE_ORDER)}
    upward = [(source, target) for source, targets in import_graph().items() for target in targets
              if rank[target.split(".")[0]] > rank[source.split(".")[0]]]
    assert upward == []


def test_the_pure_math_imports_no_verl_and_nothing_of_ours_above_it():
    for path in (REPO / "recipe" / "vogue" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert not name.startswith(("verl", "ray")), (path.name, name)
                assert not name.startswith("recipe.vogue.") or name.startswith("recipe.vogue.core"), (path.name, name)


def test_recipe_vogue_holds_only_its_entry_points_at_the_top():
    top = sorted(path.name for path in (REPO / "recipe" / "vogue").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_FILES, top
    assert {"main_vogue.py", "evaluate.py", "report.py", "__init__.py"} <= set(top)


def _registered_by_vogue():
    from verl.trainer.ppo import core_algos

    return core_algos.get_adv_estimator_fn("vogue_grpo").__name__ == "vogue_grpo_advantage"


def _registered_by_vogue_cpu():
    from verl.plugin.platform.platform_manager import PlatformRegistry
    from verl.workers.rollout.base import get_rollout_class

    return PlatformRegistry.get("cpu").__name__ == "PlatformCPU" and get_rollout_class("hf").__name__ == "HFServerAdapter"


REGISTERED = {"vogue": _registered_by_vogue, "vogue_cpu": _registered_by_vogue_cpu}


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_every_verl_plugin_entry_point_loads_and_registers_its_names(name):
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="verl.plugins")}
    ours = {ep_name for ep_name, ep in entry_points.items() if ep.value.startswith(PACKAGES)}
    assert ours == set(REGISTERED)  # a new entry point needs its check here
    entry_points[name].load()  # raises where verl would silently swallow the error
    assert REGISTERED[name]()
