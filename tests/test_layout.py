"""The package layout (docs/index.md "Package layout", docs/design.md): the public names live where
``torch_lipcvx.__init__`` says, the map in the docs names every module, and the tests mirror the
subpackages."""

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
