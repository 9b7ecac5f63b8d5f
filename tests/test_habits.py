"""A person's habits: one set of defaults, progress bars, quick imports, short reprs.

* every entry point (Python functions, the CLI, the demo) takes its defaults from
  :mod:`torch_lipcvx.defaults`;
* long runs show a tqdm bar on stderr when asked (``progress=True``), or by default when stderr is
  a terminal (never under pytest), and write nothing when off;
* ``import torch_lipcvx`` and ``torch-lipcvx --help`` load neither cvxpy nor scipy (nor
  Lightning, torchmetrics or matplotlib), and ``certify`` with the default solver stays clear of
  cvxpy too; submodules are attributes of the package (``tl.data``);
* results print as one short line, whatever the size of the network.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx import defaults
from torch_lipcvx._engine import ipm
from torch_lipcvx._progress import ProgressBar, check_progress, progress_bar, suppressed
from torch_lipcvx.cli import build_parser, main

HEAVY = ("cvxpy", "scipy", "lightning", "torchmetrics", "matplotlib")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules present in ``sys.modules`` after running ``code`` in a fresh Python."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print("\\n" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _data(n: int = 60, d: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(X.sum(1)) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


def _net(d: int = 2, m: int = 100, seed: int = 0) -> tl.ShallowReLU:
    return tl.ShallowReLU(d, m, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------ imports
def test_import_loads_no_cvxpy_scipy_or_optional_stacks():
    assert _loaded_after("import torch_lipcvx") == []


def test_help_loads_no_cvxpy_scipy_or_optional_stacks():
    code = """
        from torch_lipcvx.cli import main
        for argv in (["--help"], ["postprocess", "--help"], ["certify", "--help"]):
            try:
                main(argv)
            except SystemExit as exc:
                assert exc.code == 0
    """
    assert _loaded_after(code) == []


def test_certify_with_the_default_solver_does_not_load_cvxpy(tmp_path, capsys):
    ckpt = str(tmp_path / "m.pt")
    assert main(["train", "--hidden", "8", "--epochs", "20", "--n", "60", "--out", ckpt,
                 "--quiet"]) == 0
    code = f"""
        from torch_lipcvx.cli import main
        assert main(["certify", "--model", {ckpt!r}, "--quiet"]) == 0
        import sys
        # building the network must not go through torch's meta device (sympy & co: ~0.6 s)
        assert "sympy" not in sys.modules
    """
    assert _loaded_after(code) == []


def test_a_cvxpy_solver_still_loads_cvxpy_when_used():
    code = """
        import torch, torch_lipcvx as tl
        net = tl.ShallowReLU(2, 4, generator=torch.Generator().manual_seed(0))
        tl.lipsdp(net.weights(), solver="CLARABEL")
    """
    assert "cvxpy" in _loaded_after(code)


def test_submodules_are_attributes_loaded_on_first_use():
    code = """
        import sys, torch_lipcvx as tl
        assert callable(tl.data.load_uci) and tl.defaults.MAX_ITER >= 1
        assert callable(tl.train_sgd) and callable(tl.train.train_pgd)
        assert "data" in dir(tl) and "plots" in dir(tl)
        assert "matplotlib" not in sys.modules
        tl.plots.plot_objective_history
    """
    assert _loaded_after(code) == ["matplotlib"]       # loaded by tl.plots, nothing else
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        tl.not_a_module  # noqa: B018


# ------------------------------------------------------------------------------ defaults
def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


def test_python_functions_share_the_defaults():
    from torch_lipcvx.admm import ADMM
    from torch_lipcvx.lightning import ConvexPostProcessing
    from torch_lipcvx.algorithm1.extensions import postprocess_extended, sampled_lipschitz
    from torch_lipcvx.train import train_sgd_lip
    from torch_lipcvx.train import train_pgd, train_sgd

    for fn in (tl.postprocess, sampled_lipschitz, tl.regularisation_path,
               ConvexPostProcessing.__init__):
        assert _default(fn, "max_iter") == defaults.MAX_ITER, fn
        assert _default(fn, "tol") == defaults.TOL, fn
    assert _default(postprocess_extended, "w_max_iter") == defaults.MAX_ITER
    assert _default(postprocess_extended, "tol") == defaults.TOL
    for fn in (train_sgd, train_pgd, train_sgd_lip):
        assert _default(fn, "epochs") == defaults.EPOCHS, fn
        assert _default(fn, "lr") == defaults.LR, fn
        assert _default(fn, "hidden") == defaults.HIDDEN, fn
        assert _default(fn, "beta") == defaults.BETA, fn
        assert _default(fn, "progress") is None, fn
    for fn in (tl.postprocess, tl.objective, postprocess_extended, sampled_lipschitz,
               tl.regularisation_path, ADMM.__init__):
        assert _default(fn, "beta") == defaults.BETA, fn
    assert _default(ADMM.__init__, "max_iter") == defaults.ADMM_MAX_ITER
    assert _default(ADMM.__init__, "tol") == defaults.ADMM_TOL
    assert _default(ADMM.__init__, "lr") == defaults.LR
    assert _default(ADMM.__init__, "loss_steps") == defaults.ADMM_LOSS_STEPS
    for fn in (tl.postprocess, postprocess_extended, sampled_lipschitz, tl.regularisation_path,
               ADMM.run):
        assert _default(fn, "progress") is None, fn


def test_cli_and_demo_share_the_defaults():
    parser = build_parser()
    pp = parser.parse_args(["postprocess", "--model", "m.pt"])
    assert (pp.max_iter, pp.tol, pp.lam, pp.beta) == (defaults.MAX_ITER, defaults.TOL,
                                                      defaults.LAM, defaults.BETA)
    tr = parser.parse_args(["train"])
    assert (tr.epochs, tr.lr, tr.hidden, tr.beta) == (defaults.EPOCHS, defaults.LR,
                                                      defaults.HIDDEN, defaults.BETA)
    demo = parser.parse_args(["demo"])
    assert (demo.epochs, demo.lr, demo.hidden, demo.lam, demo.max_iter, demo.tol, demo.seed) == (
        defaults.EPOCHS, defaults.LR, defaults.HIDDEN, defaults.LAM, defaults.MAX_ITER,
        defaults.TOL, defaults.SEED)
    assert demo.beta == defaults.DEMO_BETA > 0       # the demo's documented choice
    assert parser.parse_args(["bench"]).lam == defaults.LAM
    for argv in (["demo"], ["train"], ["postprocess", "--model", "m"], ["certify", "--model", "m"]):
        assert parser.parse_args(argv).progress is None
        assert parser.parse_args(argv + ["--no-progress"]).progress is False


def test_defaults_are_sensible():
    assert isinstance(defaults.MAX_ITER, int) and defaults.MAX_ITER >= 1
    assert isinstance(defaults.EPOCHS, int) and defaults.EPOCHS >= 1
    assert isinstance(defaults.HIDDEN, int) and defaults.HIDDEN >= 1
    assert 0 < defaults.TOL < 1 and 0 < defaults.LR < 1 and 0 < defaults.ADMM_TOL < 1
    assert defaults.BETA >= 0 and defaults.LAM > 0
    assert set(defaults.__all__) <= set(vars(defaults))


# ------------------------------------------------------------------------------ progress
def test_progress_none_follows_whether_stderr_is_a_terminal(monkeypatch):
    monkeypatch.delenv("TORCH_LIPCVX_PROGRESS", raising=False)

    class Tty:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Tty(True))
    assert check_progress(None) is True
    with suppressed():
        assert check_progress(None) is False and check_progress(True) is True
    monkeypatch.setattr(sys, "stderr", Tty(False))
    assert check_progress(None) is False
    assert check_progress(True) is True and check_progress(False) is False


@pytest.mark.parametrize("bad", [1, "yes", 0.0])
def test_progress_must_be_a_bool_or_none(bad):
    X, y = _data()
    net = _net(m=6)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        tl.postprocess(net, X, y, lam=1e-3, progress=bad)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        tl.train_sgd(None, X, y, hidden=4, epochs=1, progress=bad)


def test_training_bar_on_stderr_only_when_asked(capfd):
    X, y = _data()
    kw = dict(hidden=6, epochs=30, seed=0)
    quiet = tl.train_sgd(None, X, y, **kw)                     # None: stderr is not a terminal
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    shown = tl.train_sgd(None, X, y, progress=True, **kw)
    out, err = capfd.readouterr()
    assert out == "" and "train (sgd)" in err and "30/30" in err
    off = tl.train_sgd(None, X, y, progress=False, **kw)
    assert capfd.readouterr() == ("", "")
    for res in (shown, off):       # the bar changes nothing in the result
        assert all(torch.equal(a, b) for a, b in zip(quiet.model.parameters(),
                                                     res.model.parameters()))


def test_algorithm1_bar_and_verbose_lines(capfd):
    X, y = _data()
    net = tl.train_sgd(None, X, y, hidden=8, epochs=200, seed=1).model
    capfd.readouterr()
    plain = tl.postprocess(net, X, y, lam=1e-3, max_iter=3, tol=0.0)
    assert capfd.readouterr() == ("", "")
    res = tl.postprocess(net, X, y, lam=1e-3, max_iter=3, tol=0.0, progress=True, verbose=True)
    out, err = capfd.readouterr()
    assert "Algorithm 1" in err and "[torch_lipcvx] iter" in out
    assert "[torch_lipcvx]" not in err                          # lines on stdout, bar on stderr
    assert [h.objective for h in res.history] == [h.objective for h in plain.history]
    tl.postprocess(net, X, y, beta=1e-2, progress=True)          # the l2 case: one step
    assert "program (6)" in capfd.readouterr().err


def test_a_long_step_shows_the_interior_points_iterations_on_the_bar(capfd, monkeypatch):
    """A step of Algorithm 1 can take minutes at scale: the bar notes the interior point's
    iteration and relative gap as it goes (redrawn at most every NOTE_EVERY seconds), for the
    restriction (12), program (6) and another loss; without a bar nothing is asked for."""
    X, y = _data()
    net = tl.train_sgd(None, X, y, hidden=8, epochs=200, seed=1).model
    capfd.readouterr()
    monkeypatch.setattr(ProgressBar, "NOTE_EVERY", 0.0)        # every note redraws
    for kw in (dict(lam=1e-3, max_iter=2), dict(beta=1e-2), dict(lam=1e-3, max_iter=1,
                                                              loss="huber")):
        tl.postprocess(net, X, y, progress=True, **kw)
        err = capfd.readouterr().err
        assert re.search(r"solve=it \d+, gap \d\.\de[-+]\d+", err), kw
    seen = []
    orig = ipm.solve

    def spy(*args, **kwargs):
        seen.append(kwargs.get("on_iteration"))
        return orig(*args, **kwargs)
    monkeypatch.setattr(ipm, "solve", spy)
    tl.postprocess(net, X, y, lam=1e-3, max_iter=1)             # no bar: no note
    assert seen and all(f is None for f in seen)


def test_a_note_shows_beside_the_last_update_until_the_next(capfd):
    with progress_bar(True, 3, "notes") as bar:
        bar.update(1, J=0.5)
        bar.note(solve="it 3")
        assert bar._bar.postfix == "J=0.5, solve=it 3"
        bar.update(1, J=0.25)                                      # the next step's result
        assert bar._bar.postfix == "J=0.25"
    assert "notes" in capfd.readouterr().err
    off = progress_bar(False, 3, "off")
    off.note(solve="it 1")                                          # nothing shown, no error
    off.close()


def test_no_bar_inside_another_bar(capfd):
    with progress_bar(True, 2, "outer") as bar:
        X, y = _data()
        tl.train_sgd(None, X, y, hidden=4, epochs=5)              # None: no second bar
        bar.update(1)
    err = capfd.readouterr().err
    assert "outer" in err and "train (sgd)" not in err


def test_admm_bar(capfd):
    X, y = _data(n=40)
    net = _net(m=5)
    res = tl.ADMM(net, X, y, lam=1e-2, beta=1e-3, loss_steps=3, min_iter=1, max_iter=2,
                  solver="auto").run(progress=True)
    err = capfd.readouterr().err
    assert "ADMM" in err and len(res.history) >= 2


def test_progress_environment_variable(monkeypatch):
    for text, want in (("0", False), ("off", False), ("1", True), ("TRUE", True)):
        monkeypatch.setenv("TORCH_LIPCVX_PROGRESS", text)
        assert check_progress(None) is want
        assert check_progress(not want) is (not want)       # an explicit choice wins
    monkeypatch.setenv("TORCH_LIPCVX_PROGRESS", "maybe")
    with pytest.raises(ValueError, match="TORCH_LIPCVX_PROGRESS must be one of"):
        check_progress(None)


def test_cli_progress_flags(tmp_path, capfd, monkeypatch):
    ckpt = str(tmp_path / "m.pt")
    base = ["train", "--hidden", "4", "--epochs", "15", "--n", "60", "--out", ckpt]
    assert main(base) == 0                                   # the test suite's TORCH_LIPCVX_PROGRESS=0
    assert "train (sgd)" not in capfd.readouterr().err
    monkeypatch.delenv("TORCH_LIPCVX_PROGRESS")
    assert main(base) == 0                                   # the CLI's default: a bar, even in a pipe
    assert "train (sgd)" in capfd.readouterr().err
    monkeypatch.setenv("TORCH_LIPCVX_PROGRESS", "0")
    assert main(base + ["--progress"]) == 0
    assert "train (sgd)" in capfd.readouterr().err
    assert main(base + ["--progress", "--quiet"]) == 0         # --quiet wins
    assert "train (sgd)" not in capfd.readouterr().err
    assert main(["postprocess", "--model", ckpt, "--max-iter", "2", "--out",
                 str(tmp_path / "p.pt"), "--progress"]) == 0
    assert "Algorithm 1" in capfd.readouterr().err


# ------------------------------------------------------------------------------ reprs
def _short(obj, max_chars: int = 250) -> None:
    text = repr(obj)
    assert len(text) <= max_chars and text.count("\n") == 0, (type(obj).__name__, text[:300])
    assert "tensor([" not in text and "array([" not in text, text


def test_result_reprs_are_short_for_a_100_unit_model():
    from torch_lipcvx.admm import sdp_step
    from torch_lipcvx.algorithm1.postprocess import solve_l2_program

    X, y = _data(n=50)
    net = _net(m=100)
    w = net.weights()
    _short(w)
    train = tl.train_sgd(net, X, y, epochs=3)
    _short(train)
    cert = tl.lipsdp(w)
    _short(cert)
    _short(tl.lipschitz_bounds(net, X=X, n_samples=32))
    _short(tl.pgd_attack(net, X, y, 0.1, steps=2))
    _short(tl.objective(net, X, y, lam=1e-3))
    res = tl.postprocess(net, X, y, lam=1e-3, max_iter=1)
    _short(res)
    for rec in res.history:
        _short(rec)
    _short(solve_l2_program(net, X, y, beta=1e-3))
    admm = tl.ADMM(net, X, y, lam=1e-3, loss_steps=2, min_iter=1, max_iter=1, solver="auto")
    _short(admm)
    out = admm.run()
    _short(out)
    _short(out.history[-1])
    _short(sdp_step(w.W, w.alpha, cert.t, 1e-3))
    _short(tl.postprocess_extended(net, X, y, lam=1e-3, max_rounds=1, w_max_iter=1,
                                   solver="auto"))
