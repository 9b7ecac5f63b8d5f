"""The package layout (docs/index.md "Package layout", docs/design.md): the public names live where
``torch_lipcvx.__init__`` says, the map in the docs names every module, and the tests mirror the
subpackages."""

import ast
from importlib import import_module
from pathlib import Path

import torch_lipcvx as tl
from torch_lipcvx._deprecated import MOVED

ROOT = Path(tl.__file__).parent
REPO = ROOT.parent
SHIMS = {old.rsplit(".", 1)[1] for old in MOVED}


def test_every_public_name_is_its_home_modules_object():
    for home, names in tl._EAGER.items():
        module = import_module(f"torch_lipcvx.{home}")
        for name in names:
            assert getattr(tl, name) is getattr(module, name), name
    for name, home in tl._LAZY.items():
        assert getattr(tl, name) is getattr(import_module(f"torch_lipcvx.{home}"), name), name
    eager = {n for ns in tl._EAGER.values() for n in ns}
    assert sorted(tl.__all__) == sorted(eager | set(tl._LAZY))
    assert not set(tl._OLD_SUBMODULES) & set(dir(tl))                  # deprecated paths unlisted
    assert callable(tl.postprocess) and callable(tl.objective)          # functions, not modules


def _modules() -> list[str]:
    """Every module of the package as ``pkg/name.py`` (shims and dunder files left out)."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name.startswith("__") or (path.parent == ROOT and path.stem in SHIMS):
            continue
        out.append(rel)
    return out


def test_the_docs_map_names_every_module():
    index = (REPO / "docs" / "index.md").read_text()
    layout = index[index.index("## Package layout"):]
    missing = [rel for rel in _modules() if f"`{rel}`" not in layout]
    assert not missing, f"docs/index.md's package layout does not name {missing}"


def test_each_subpackage_says_what_is_inside_and_has_its_tests():
    for pkg in ("_engine", "algorithm1", "lightning"):
        doc = import_module(f"torch_lipcvx.{pkg}").__doc__
        for path in sorted((ROOT / pkg).glob("[!_]*.py")):
            assert f":mod:`.{path.stem}`" in doc, (pkg, path.stem)
        prefix = pkg.strip("_")
        assert list((REPO / "tests").glob(f"test_{prefix}_*.py")), f"no tests/test_{prefix}_*.py"


#: a value type whose fields have a natural order: ``ShallowWeights(W, b, alpha, c)``
POSITIONAL_OK = {"ShallowWeights"}


def _record_classes(trees: dict[str, ast.Module]) -> set[str]:
    """Names of the classes decorated ``@dataclass`` (with or without arguments) in ``trees``."""
    return {node.name for tree in trees.values() for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any("dataclass" in ast.unparse(d) for d in node.decorator_list)}


def _positional_records(trees: dict[str, ast.Module], records: set[str]) -> list[str]:
    """``file:line Name(k positional)`` for each call of a record class in ``records`` with three or
    more positional arguments (a ``*starred`` argument counts as one)."""
    found = []
    for rel, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (func.id if isinstance(func, ast.Name)
                    else func.attr if isinstance(func, ast.Attribute) else None)
            if name in records and name not in POSITIONAL_OK and len(node.args) >= 3:
                found.append(f"{rel}:{node.lineno} {name}({len(node.args)} positional)")
    return found


def test_records_are_built_by_keyword():
    trees = {path.relative_to(REPO).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
             for path in sorted(ROOT.rglob("*.py"))}
    records = _record_classes(trees)
    assert {"LipSDPResult", "ADMMRecord", "Verdict", "ShallowWeights"} <= records
    found = _positional_records(trees, records)
    assert not found, f"records built by position (use keywords, in field order): {found}"
    # the scan sees what it forbids
    probe = {"probe.py": ast.parse("R(1, 2, *xs)\nm.R(1, 2, 3)\nR(1, 2)\nR(a=1, b=2, c=3)\n"
                                   "ShallowWeights(W, b, alpha, c)\n")}
    assert _positional_records(probe, {"R", "ShallowWeights"}) == [
        "probe.py:1 R(3 positional)", "probe.py:2 R(3 positional)"]
