"""Old module paths keep working for one release (docs/design.md, "Deprecation policy"): each
warns DeprecationWarning once, naming the new home, and forwards every attribute (private names
included) to the module that holds the code now."""

import importlib
import subprocess
import sys
import textwrap

import pytest

from torch_lipcvx._deprecated import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_warns_once_and_forwards(old):
    code = textwrap.dedent(f"""
        import importlib, sys, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import {old}
            import {old}                                     # a second import: no new warning
        shim = sys.modules[{old!r}]
        news = [importlib.import_module(n) for n in {MOVED[old]!r}]
        seen = set()
        for new in news:                                     # the first home holding a name wins
            for name in set(vars(new)) - seen:
                if not name.startswith("__"):
                    assert getattr(shim, name) is getattr(new, name), name
            seen |= set(vars(new))
        assert set(dir(news[0])) - {{"__builtins__"}} <= set(dir(shim))
        mine = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert len(mine) == 1, [str(w.message) for w in mine]
        assert {MOVED[old][0]!r} in str(mine[0].message)
        assert mine[0].filename == "<string>"                # the importer's line, not the shim's
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_attribute_of_an_old_path_is_an_attribute_error():
    with pytest.warns(DeprecationWarning):
        shim = importlib.reload(importlib.import_module("torch_lipcvx.ipm"))
    with pytest.raises(AttributeError, match="torch_lipcvx.ipm"):
        shim.no_such_name


def test_the_old_postprocess_module_path_leaves_the_function_in_place():
    code = textwrap.dedent("""
        import warnings
        import torch_lipcvx as tl
        from torch_lipcvx.algorithm1.postprocess import PostProcessResult, postprocess
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from torch_lipcvx.postprocess import PostProcessResult as old_result
            import torch_lipcvx.postprocess
        assert old_result is PostProcessResult
        assert tl.postprocess is postprocess                 # the function, not the old module
        assert [w.category for w in caught] == [DeprecationWarning]
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_sgd_lip_from_its_old_module_warns_and_is_the_trainer():
    import torch_lipcvx.layers as layers
    from torch_lipcvx.train import train_sgd_lip
    with pytest.warns(DeprecationWarning, match="torch_lipcvx.train"):
        old = layers.train_sgd_lip
    assert old is train_sgd_lip
    with pytest.raises(AttributeError, match="no_such_name"):
        layers.no_such_name
