"""Properties of the shallow ReLU model and its conversions (docs/conventions.md §1)."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

import torch_lipcvx
from torch_lipcvx.bounds import naive_bound
from torch_lipcvx.models import ShallowReLU, ShallowWeights, activation_patterns, augment, sign_order

DTYPE = torch.float64
DTYPES = [torch.float64, torch.float32]


def seeded_net(seed: int = 0, d: int = 3, m: int = 7, *, output_bias: bool = True,
               dtype=DTYPE) -> ShallowReLU:
    """A seeded ``ShallowReLU`` with weights large enough for a non-flat function."""
    g = torch.Generator().manual_seed(seed)
    net = ShallowReLU(d, m, output_bias=output_bias, dtype=dtype).reset_parameters(g)
    with torch.no_grad():
        net.output.weight.mul_(3.0)
    return net


def seeded_sequential(seed: int = 0, d: int = 3, m: int = 7, *, output_bias: bool = True,
                      dtype=DTYPE) -> nn.Sequential:
    with torch.random.fork_rng():  # seeded default init without touching the global RNG
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(d, m, dtype=dtype), nn.ReLU(),
                             nn.Linear(m, 1, bias=output_bias, dtype=dtype))


def data(seed: int = 0, n: int = 50, d: int = 3, dtype=DTYPE) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def reference_forward(X, W, b, alpha, c=None):
    """``f(x) = Σ_j α_j relu(w_jᵀ x + b_j) (+ c)`` written out with plain tensors."""
    out = (torch.relu(X @ W.T + b) * alpha).sum(dim=-1)
    return out if c is None else out + c


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k])
        for k in a)


# ------------------------------------------------------------------------------ construction
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_bias", [True, False])
def test_construction_shapes_and_dtype(dtype, output_bias):
    net = ShallowReLU(3, 5, output_bias=output_bias, dtype=dtype)
    assert (net.in_features, net.m, net.has_output_bias) == (3, 5, output_bias)
    assert net.dtype == dtype and net.device == torch.device("cpu")
    assert net.hidden.weight.shape == (5, 3) and net.output.weight.shape == (1, 5)
    X = data(n=7, dtype=dtype)
    out = net(X)
    assert out.shape == (7,) and out.dtype == dtype
    single = net(X[2])
    assert single.shape == () and single.dtype == dtype
    torch.testing.assert_close(single, out[2])
    # the module computes the formula of docs/conventions.md §1
    w = net.weights()
    torch.testing.assert_close(out, reference_forward(X, w.W, w.b, w.alpha, w.c))


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "3", None])
@pytest.mark.parametrize("which", ["in_features", "hidden"])
def test_construction_rejects_bad_sizes(bad, which):
    args = {"in_features": 3, "hidden": 4}
    args[which] = bad
    with pytest.raises(ValueError, match=f"{which} must be a positive integer"):
        ShallowReLU(args["in_features"], args["hidden"])


def test_zero_sizes_rejected_explicitly():
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        ShallowReLU(0, 5)
    with pytest.raises(ValueError, match="hidden must be a positive integer, got True"):
        ShallowReLU(2, True)


# --------------------------------------------------------------------------- from_sequential
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_bias", [True, False])
def test_from_sequential_round_trip(dtype, output_bias):
    seq = seeded_sequential(output_bias=output_bias, dtype=dtype)
    before = copy.deepcopy(seq.state_dict())
    net = ShallowReLU.from_sequential(seq)
    assert isinstance(net, ShallowReLU)
    assert net.dtype == dtype and net.has_output_bias == output_bias
    assert (net.in_features, net.m) == (3, 7)
    X = data(dtype=dtype)
    with torch.no_grad():
        assert torch.equal(net(X), seq(X).squeeze(-1))
        back = net.to_sequential()
        assert torch.equal(back(X), seq(X))
    assert isinstance(back, nn.Sequential) and [type(l) for l in back] == [nn.Linear, nn.ReLU,
                                                                           nn.Linear]
    assert states_equal(back.state_dict(), seq.state_dict())
    # parameters are the same numbers under ShallowReLU's names
    sd = net.state_dict()
    assert torch.equal(sd["hidden.weight"], seq[0].weight) and torch.equal(sd["hidden.bias"],
                                                                           seq[0].bias)
    assert torch.equal(sd["output.weight"], seq[2].weight)
    assert ("output.bias" in sd) == output_bias
    if output_bias:
        assert torch.equal(sd["output.bias"], seq[2].bias)
    assert states_equal(seq.state_dict(), before)


def test_from_sequential_copies_and_does_not_alias():
    seq = seeded_sequential()
    before = copy.deepcopy(seq.state_dict())
    net = ShallowReLU.from_sequential(seq)
    seq_ptrs = {p.data_ptr() for p in seq.parameters()}
    assert not seq_ptrs & {p.data_ptr() for p in net.parameters()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert states_equal(seq.state_dict(), before)
    # and the other way round: mutating the Sequential leaves the converted model alone
    net_state = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for p in seq.parameters():
            p.mul_(-2.0)
    assert states_equal(net.state_dict(), net_state)
    # to_sequential copies too
    back = net.to_sequential()
    with torch.no_grad():
        for p in back.parameters():
            p.zero_()
    assert states_equal(net.state_dict(), net_state)


def test_from_sequential_of_a_shallow_relu_is_a_copy():
    net = seeded_net()
    other = ShallowReLU.from_sequential(net)
    assert other is not net
    assert states_equal(other.state_dict(), net.state_dict())
    with torch.no_grad():
        other.hidden.weight.zero_()
    assert not torch.equal(other.hidden.weight, net.hidden.weight)


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)),
     r"expected exactly 3 layers.*got 5.*only one hidden ReLU layer"),
    (nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)),
     r"activation must be nn\.ReLU, got Tanh"),
    (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(), nn.Linear(4, 1)),
     r"activation must be nn\.ReLU, got LeakyReLU"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU6(), nn.Linear(4, 1)),
     r"activation must be nn\.ReLU, got ReLU6"),
    (nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 1)),
     r"hidden Linear layer must have a bias"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)),
     r"layer sizes do not chain: hidden has 4 units, output layer expects 5"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
     r"expected exactly 3 layers.*got 2"),
    (nn.Sequential(nn.Conv1d(3, 4, 1), nn.ReLU(), nn.Linear(4, 1)),
     r"expected layers Linear, ReLU, Linear, got \['Conv1d', 'ReLU', 'Linear'\]"),
    (nn.Linear(3, 1), r"expected nn\.Sequential.*got a Linear"),
    (nn.ModuleList([nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)]),
     r"expected nn\.Sequential.*got a ModuleList"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1).double()),
     r"share one dtype and device.*\[0\]\.weight: torch\.float32.*\[2\]\.weight: torch\.float64"),
], ids=["two-hidden", "tanh", "leaky-relu", "relu6", "hidden-no-bias",
        "mismatched-sizes", "too-few", "conv", "linear", "modulelist", "mixed-dtype"])
def test_from_sequential_rejects(module, match):
    before = copy.deepcopy(module.state_dict())
    with pytest.raises(ValueError, match=match):
        ShallowReLU.from_sequential(module)
    assert states_equal(module.state_dict(), before)


class _ResidualSequential(nn.Sequential):
    """Linear -> ReLU -> Linear plus a skip connection: not a shallow ReLU network."""

    def forward(self, x):
        return super().forward(x) + x.sum(dim=1, keepdim=True)


class _ScaledLinear(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize("make, match", [
    (lambda: _ResidualSequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
     r"_ResidualSequential overrides nn\.Sequential\.forward"),
    (lambda: nn.Sequential(_ScaledLinear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
     r"layer \[0\] is a _ScaledLinear, which overrides nn\.Linear\.forward"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), _ScaledLinear(4, 1)),
     r"layer \[2\] is a _ScaledLinear"),
    (lambda: nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 1)),
     r"layer \[0\] \(LazyLinear\) is not initialised yet"),
], ids=["sequential-subclass-forward", "linear-subclass-forward-hidden",
        "linear-subclass-forward-output", "lazy"])
def test_from_sequential_rejects_modules_that_compute_something_else(make, match):
    """A Sequential or Linear subclass with its own forward computes another function than the
    converted ShallowReLU (the residual one was converted, and certified, without a word); a
    lazy layer failed with a size mismatch deep in copy_."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LazyLinear's "lazy modules are a new feature"
        module = make()
    with pytest.raises(ValueError, match=match):
        ShallowReLU.from_sequential(module)


def test_from_sequential_accepts_a_parametrised_linear():
    """Parametrisations subclass nn.Linear without overriding forward: still convertible."""
    from torch.nn.utils.parametrizations import spectral_norm
    seq = seeded_sequential()
    spectral_norm(seq[0])
    seq.eval()
    X = data()
    with torch.no_grad():
        torch.testing.assert_close(ShallowReLU.from_sequential(seq)(X), seq(X)[:, 0])


def test_shallow_weights_rejects_a_non_tensor_c():
    w = seeded_net().weights()
    with pytest.raises(TypeError, match=r"ShallowWeights\.c must be a 0-d tensor or None, got float"):
        ShallowWeights(w.W, w.b, w.alpha, 0.5)


def test_realised_gradient_norms_is_a_lower_bound_for_float32_inputs():
    """Two opposite hyperplanes that coincide exactly (float32-exact weights, w̃₂ = −3 w̃₁): no
    region has both units on, so L = 3‖w‖. At a float32 point 1e-7 from the kink the float32
    pre-activations were both positive, above float64's rounding margin: 4‖w‖ was returned."""
    from torch_lipcvx.models import realised_gradient_norms
    w = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0, -2.0, 1.5, 0.25])
    W, b = torch.stack([w, -3 * w]), torch.tensor([0.25, -0.75])
    alpha = torch.tensor([1.0, -1.0])
    x = torch.tensor([[2.0758824348449707, 0.0011605257168412209, 0.044427722692489624,
                       -0.7571606636047363, 1.1541242599487305, 2.7199559211730957,
                       0.20272037386894226, -0.9269479513168335]])
    L = 3 * float(w.double().norm())
    g = torch.Generator().manual_seed(0)
    near = x + 1e-7 * torch.randn(200, 8, generator=g)   # more float32 points at the kink
    X = torch.cat([x, near])
    vals = realised_gradient_norms(X, W, b, alpha, 2.0)
    assert vals.dtype == torch.float32 and vals.shape == (201,)
    assert float(vals.double().max()) <= L
    # off the kink the value is the region's gradient norm, as in float64
    far = torch.tensor([[1.0] * 8, [-1.0] * 8])
    torch.testing.assert_close(realised_gradient_norms(far, W, b, alpha, 2.0).double(),
                               realised_gradient_norms(far.double(), W.double(), b.double(),
                                                       alpha.double(), 2.0), rtol=1e-6, atol=0)


def test_generator_draws_are_the_documented_uniforms():
    """reset_parameters(g): W ~ U(±1/sqrt(d)), b likewise, then the output layer's, in order."""
    net = ShallowReLU(3, 4, generator=torch.Generator().manual_seed(7), dtype=DTYPE)
    g = torch.Generator().manual_seed(7)
    draws = [torch.rand(shape, generator=g, dtype=DTYPE) * 2 * bound - bound
             for shape, bound in (((4, 3), 3 ** -0.5), ((4,), 3 ** -0.5), ((1, 4), 0.5), ((1,), 0.5))]
    for got, want in zip((net.hidden.weight, net.hidden.bias, net.output.weight, net.output.bias),
                         draws):
        assert torch.equal(got.detach(), want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_generator_on_cuda_and_cpu_generator_for_a_cuda_module():
    """torch.rand without a device drew on the default device: a CUDA generator failed ("Expected
    a 'cpu' device type for generator"), and so did a CPU one under set_default_device('cuda')."""
    net = ShallowReLU(3, 4, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    assert net.device.type == "cuda"
    cpu = ShallowReLU(3, 4, generator=torch.Generator().manual_seed(0))
    with torch.device("cuda"):
        on_cuda = ShallowReLU(3, 4, generator=torch.Generator().manual_seed(0))
    assert on_cuda.device.type == "cuda"
    assert torch.equal(on_cuda.hidden.weight.detach().cpu(), cpu.hidden.weight.detach())


def test_from_sequential_rejects_layers_on_two_devices():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1, device="meta"))
    with pytest.raises(ValueError, match=r"share one dtype and device.*\[2\]\.weight: "
                                         r"torch\.float32, meta"):
        ShallowReLU.from_sequential(seq)


# ------------------------------------------------------------------------- patterns, gradients
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_patterns(dtype):
    net = seeded_net(dtype=dtype)
    X = data(n=80, dtype=dtype)
    D = net.activation_patterns(X)
    w = net.weights()
    assert D.dtype == torch.bool and D.shape == (80, 7)
    assert torch.equal(D, (X @ w.W.T + w.b) >= 0)
    assert torch.equal(D, activation_patterns(X, w))
    # both signs occur (a non-degenerate instance) and each unit's weights lie in the cone of its
    # own pattern, (2 D_j − I) X̃ w̃_j ≥ 0 (docs/conventions.md §1)
    assert D.any() and not D.all()
    cone = (2 * D.to(dtype) - 1) * (augment(X) @ w.W_tilde.T)
    assert (cone >= 0).all()
    # with the pattern fixed, relu(X̃ w̃_j) = D_j X̃ w̃_j
    torch.testing.assert_close(torch.relu(augment(X) @ w.W_tilde.T),
                               D.to(dtype) * (augment(X) @ w.W_tilde.T))


def test_activation_patterns_zero_preactivation_counts_as_active():
    w = ShallowWeights(torch.tensor([[1.0, 0.0]], dtype=DTYPE), torch.tensor([-1.0], dtype=DTYPE),
                       torch.tensor([1.0], dtype=DTYPE))
    X = torch.tensor([[1.0, 5.0], [0.5, 0.0], [2.0, 0.0]], dtype=DTYPE)
    assert ShallowReLU.from_weights(w).activation_patterns(X)[:, 0].tolist() == [True, False, True]


def test_activation_patterns_rejects_wrong_shape():
    net = seeded_net()
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\)"):
        net.activation_patterns(data(n=4, d=2))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\)"):
        net.activation_patterns(data(n=4)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_input_gradients_match_autograd(dtype, seed):
    net = seeded_net(seed, dtype=dtype)
    X = data(seed + 10, n=64, dtype=dtype).requires_grad_(True)
    net(X).sum().backward()
    G = net.input_gradients(X.detach())
    assert G.shape == (64, 3) and G.dtype == dtype
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(G, X.grad, **tol)


# ------------------------------------------------------------------------- rescaling invariance
def test_positive_rescaling_leaves_outputs_and_lipsdp_unchanged():
    net = seeded_net(2, d=3, m=6)
    w = net.weights()
    scale = torch.tensor([0.2, 5.0, 1.0, 3.0, 0.5, 10.0], dtype=DTYPE)
    w2 = ShallowWeights(scale[:, None] * w.W, scale * w.b, w.alpha / scale, w.c)
    net2 = ShallowReLU.from_weights(w2)
    X = data(3, n=100)
    with torch.no_grad():
        torch.testing.assert_close(net2(X), net(X), rtol=1e-12, atol=1e-12)
    L1 = torch_lipcvx.lipsdp(w, solver="CLARABEL").L
    L2 = torch_lipcvx.lipsdp(w2, solver="CLARABEL").L
    assert L1 > 0
    assert L2 == pytest.approx(L1, rel=1e-5)
    # the naive product bound is not invariant, but it is still an upper bound above LipSDP
    n1, n2 = naive_bound(w), naive_bound(w2)
    assert abs(n2 - n1) > 1e-2 * n1
    assert n1 >= L1 * (1 - 1e-9) and n2 >= L2 * (1 - 1e-9)
    # and LipSDP is above the sampled gradient norm of either parametrisation
    grad = net.input_gradients(X).norm(dim=1).max()
    assert float(grad) <= min(L1, L2) * (1 + 1e-9)


# ------------------------------------------------------------------------------ unit order
def test_sign_order_positive_then_negative_then_zero_stably():
    alpha = torch.tensor([0.0, -1.0, 2.0, 0.0, 3.0, -4.0, 1.0, -0.0, -2.0])
    order = sign_order(alpha)
    assert order.tolist() == [2, 4, 6, 1, 5, 8, 0, 3, 7]
    s = alpha[order]
    assert (s[:3] > 0).all() and (s[3:6] < 0).all() and (s[6:] == 0).all()
    # a permutation, and reordering units leaves the function unchanged
    net = seeded_net(4, m=9)
    with torch.no_grad():
        net.output.weight.copy_(alpha.to(DTYPE)[None, :])
    w = net.weights()
    perm = w.permute(sign_order(w.alpha))
    X = data(5)
    torch.testing.assert_close(ShallowReLU.from_weights(perm)(X), net(X), rtol=1e-12, atol=1e-12)
    assert sorted(order.tolist()) == list(range(9))


def test_sign_order_on_sorted_input_is_identity():
    alpha = torch.tensor([1.0, 0.5, -1.0, -3.0, 0.0])
    assert sign_order(alpha).tolist() == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- weights round trip
@pytest.mark.parametrize("output_bias", [True, False])
def test_weights_round_trip(output_bias):
    net = seeded_net(output_bias=output_bias)
    w = net.weights()
    assert w.W.shape == (7, 3) and w.b.shape == (7,) and w.alpha.shape == (7,)
    assert (w.c is not None) == output_bias and (w.c is None or w.c.shape == ())
    assert (w.m, w.d) == (7, 3) and w.W_tilde.shape == (7, 4)
    assert not any(t.requires_grad for t in (w.W, w.b, w.alpha) if t is not None)
    # weights() returns copies
    w.W.zero_()
    assert not torch.equal(net.hidden.weight.detach(), w.W)
    w = net.weights()
    net2 = ShallowReLU.from_weights(w)
    assert states_equal(net2.state_dict(), net.state_dict())
    fresh = ShallowReLU(3, 7, output_bias=output_bias, dtype=DTYPE)
    fresh.load_weights(w)
    assert states_equal(fresh.state_dict(), net.state_dict())
    fw = fresh.weights()
    for key in ("W", "b", "alpha", "c"):
        a, b = getattr(w, key), getattr(fw, key)
        assert (a is None and b is None) or torch.equal(a, b)
    # from_tilde inverts W_tilde
    w3 = ShallowWeights.from_tilde(w.W_tilde, w.alpha, w.c)
    assert torch.equal(w3.W, w.W) and torch.equal(w3.b, w.b)
    # casting on the way in
    net32 = ShallowReLU.from_weights(w, dtype=torch.float32)
    assert net32.dtype == torch.float32
    X = data()
    torch.testing.assert_close(net32(X.float()), net(X).float())


def test_load_and_from_weights_reject_inconsistent_weights():
    net = seeded_net()
    w = net.weights()
    with pytest.raises(ValueError, match=r"inconsistent weight shapes"):
        ShallowReLU.from_weights(ShallowWeights(w.W, w.b[:-1], w.alpha, w.c))
    with pytest.raises(ValueError, match=r"inconsistent weight shapes"):
        ShallowReLU.from_weights(ShallowWeights(w.W, w.b, w.alpha[:-1], w.c))
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match=r"W has shape \(7, 2\), this module needs \(7, 3\)"):
        net.load_weights(ShallowWeights(w.W[:, :2], w.b, w.alpha, w.c))
    with pytest.raises(ValueError, match=r"output bias mismatch"):
        net.load_weights(ShallowWeights(w.W, w.b, w.alpha, None))
    assert states_equal(net.state_dict(), before)


def test_load_weights_rejects_broadcastable_alpha_and_b():
    net = seeded_net()
    w = net.weights()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match="alpha"):
        net.load_weights(ShallowWeights(w.W, w.b, w.alpha[:1], w.c))
    with pytest.raises(ValueError, match=r"\bb\b"):
        net.load_weights(ShallowWeights(w.W, w.b[0], w.alpha, w.c))
    assert states_equal(net.state_dict(), before)


# ------------------------------------------------------------------------------ copies, state
@pytest.mark.parametrize("dtype", DTYPES)
def test_clone_is_a_deep_copy(dtype):
    net = seeded_net(dtype=dtype)
    twin = net.clone()
    assert twin is not net and isinstance(twin, ShallowReLU)
    assert twin.dtype == dtype and twin.device == net.device
    assert states_equal(twin.state_dict(), net.state_dict())
    assert not {p.data_ptr() for p in net.parameters()} & {p.data_ptr() for p in twin.parameters()}
    before = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(2.0)
    assert states_equal(net.state_dict(), before)


@pytest.mark.parametrize("output_bias", [True, False])
def test_state_dict_round_trip(output_bias):
    net = seeded_net(output_bias=output_bias)
    expected_keys = {"hidden.weight", "hidden.bias", "output.weight"} | (
        {"output.bias"} if output_bias else set())
    assert set(net.state_dict()) == expected_keys
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    other = ShallowReLU(3, 7, output_bias=output_bias, dtype=DTYPE)
    other.load_state_dict(torch.load(buf))
    assert states_equal(other.state_dict(), net.state_dict())
    X = data()
    with torch.no_grad():
        assert torch.equal(other(X), net(X))
    # the keys match nn.Sequential(Linear, ReLU, Linear) up to the layer names
    seq = net.to_sequential()
    renamed = {k.replace("hidden.", "0.").replace("output.", "2."): v
               for k, v in net.state_dict().items()}
    assert states_equal(seq.state_dict(), renamed)


def test_package_exports_every_public_name_and_lists_the_lazy_ones():
    """Every name in ``torch_lipcvx.__all__`` resolves (the lazy ones load their module on first
    use) and ``dir(torch_lipcvx)`` lists them all, for tab completion."""
    import torch_lipcvx
    listed = dir(torch_lipcvx)
    for name in torch_lipcvx.__all__:
        assert name in listed, name
        assert getattr(torch_lipcvx, name) is not None, name
    assert "import_module" not in listed
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        torch_lipcvx.nonsense
