#!/usr/bin/python3
"""gen.py — writes the differential suite's cases from PyTorch (tests/torch_diff).

Its length is the op list: one short @op entry per PyTorch function covered,
kept in one file so the coverage table (docs/torch_diff.md) maps onto it.

Run by `make golden` (which installs Debian's python3-torch first, through
install_torch.sh); `make test` reads the files it writes and never needs
PyTorch. Every case here is run with PyTorch in float64 for the reference and
in float32 to measure PyTorch's own float32 error (casegen.py explains the
format and the tolerance rule); run.lua runs the same cases through luatrain.

Each op has a PyTorch side here (@op) and a Lua side in run.lua's `ops`
table, under the same name; the arguments are PyTorch's (0-based dims,
indices and class targets), and run.lua translates them to luatrain's
1-based ones where it calls luatrain.

Conventions of the cases:
  - names are unique over all families; `regress_*` cases pin a disagreement
    that was found and fixed (or is being fixed), named after it;
  - `raises=True`: PyTorch refuses, and luatrain must refuse too;
    raises="auto" (dtype sweeps): whatever PyTorch does is the reference;
  - `check=`: a property check in run.lua where PyTorch leaves the result
    unspecified (ties, random masks); the note says which property;
  - `why=`: the reason for a float32 bound above 1e-4 (PyTorch's own float32
    error on the case, measured here, sets it).

Deterministic: one seeded generator per family, the cases in a fixed order,
the files written with sorted keys; the same PyTorch gives the same bytes.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from casegen import TORCH, Family, GenError, fl, fx, op  # noqa: E402

F = torch.nn.functional
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

def t(values, dtype=None):
    """torch.tensor: floats give float32, integers int64, booleans bool."""
    return torch.tensor(values, dtype=dtype)


# ======================================================================================
# unary elementwise ops
# ======================================================================================
UNARY = ["neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil",
         "round", "sign", "reciprocal", "square"]

for _n in UNARY:
    op(_n)(lambda a, x, _n=_n: getattr(torch, _n)(x))
    op(_n + "_")(lambda a, x, _n=_n: getattr(x, _n + "_")())


@op("clamp", "clip", "clamp_table")
def _clamp(a, x):
    return torch.clamp(x, a.get("min"), a.get("max"))


@op("clamp_")
def _clamp_(a, x):
    return x.clamp_(a.get("min"), a.get("max"))


op("logical_not")(lambda a, x: torch.logical_not(x))
op("isnan")(lambda a, x: torch.isnan(x))


def unary_domain(name, fam, *shape):
    """Random inputs inside the op's domain, away from its poles."""
    x = fam.randn(*shape)
    if name in ("log", "sqrt", "rsqrt"):
        return x.abs() + 0.1
    if name == "reciprocal":
        return x.sign() * (x.abs() + 0.5)
    return x


def unary_family():
    fam = Family("unary", 101)
    specials = t([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-30, -1e30, 3.0])
    for n in UNARY:
        # floor, ceil, round and sign have a zero gradient: the cases below
        # with kinks and halves check it; the sweep checks their values only
        g = n not in ("floor", "ceil", "round", "sign")
        fam.case(n, n, [fl(unary_domain(n, fam, 3, 4), grad=g)])
        fam.case(n + "_strided", n, [fl(unary_domain(n, fam, 4, 6), view=[["t"], ["step", 0, 2]], grad=g)])
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 3), grad=g)])
        fam.case(n + "_0d", n, [fl(unary_domain(n, fam, 1).reshape(()), grad=g)])
        fam.case(n + "_specials", n, [fl(specials, grad=g)],
                 ref32=True, note="NaN, infinities, signed zeros and tiny/huge values: the NaN/inf positions "
                                  "of the result and gradient must be PyTorch's (float32 against PyTorch's float32)")
        fam.case(n + "_", n + "_", [fl(unary_domain(n, fam, 3, 4), view=[["clone"]], grad=g)])
        fam.case(n + "_inplace_strided", n + "_", [fl(unary_domain(n, fam, 4, 6), view=[["clone"], ["t"]])],
                 grad=False, note="in place on a transposed view (the kernel's strided write)")
        # the result dtype for integer and bool inputs is part of the reference
        fam.case(n + "_int64", n, [fx(t([0, 1, -2, 7, -9], torch.int64))], raises="auto")
        fam.case(n + "_int32", n, [fx(t([0, 1, -2, 7], torch.int32))], raises="auto")
        fam.case(n + "_uint8", n, [fx(t([0, 1, 2, 200], torch.uint8))], raises="auto")
        fam.case(n + "_bool", n, [fx(t([True, False, True], torch.bool))], raises="auto")
        fam.case(n + "__int64", n + "_", [fx(t([0, 1, -2, 7], torch.int64), view=[["clone"]])], raises="auto")
    fam.case("inplace_on_view_autograd", "relu_", [fl(fam.randn(4, 6), view=[["clone"], ["t"]])],
             note="PyTorch rebases the history of a view modified in place (x.clone().t().relu_())")
    # kinks: the gradient where the function has a corner, as PyTorch defines it
    kink = t([-2.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 2.0])
    fam.case("abs_kink", "abs", [fl(kink)], note="d|x|/dx at 0 is 0 (sign(0))")
    fam.case("relu_kink", "relu", [fl(kink)], note="relu'(0) is 0")
    fam.case("sign_kink", "sign", [fl(kink)])
    fam.case("sqrt_zero", "sqrt", [fl(t([0.0, 1.0, 4.0]))], note="sqrt'(0) is +inf")
    halves = t([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.5])
    fam.case("round_half_even", "round", [fl(halves)], note="ties round to even, as PyTorch (and IEEE)")
    fam.case("floor_halves", "floor", [fl(halves)])
    fam.case("ceil_halves", "ceil", [fl(halves)])
    fam.case("sigmoid_large", "sigmoid", [fl(t([-100.0, -30.0, 30.0, 100.0, -1e4, 1e4]))], ref32=True,
             note="saturation: in float32 sigmoid(30) is 1 and its gradient 0")
    fam.case("tanh_large", "tanh", [fl(t([-100.0, -20.0, 20.0, 100.0]))], ref32=True,
             note="saturation: in float32 tanh(20) is 1 and its gradient 0")
    fam.case("exp_overflow", "exp", [fl(t([88.0, 89.0, 100.0, -104.0, -110.0, 700.0, 710.0]))],
             ref32=True, note="exp overflows to inf (float32 past 88.7, float64 past 709.8)")
    # clamp: bounds on either side, at the bounds (PyTorch passes the gradient
    # where min <= x <= max, bounds included), NaN, integer inputs, min > max
    xs = t([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, float("nan")])
    fam.case("clamp_both", "clamp", [fl(xs)], {"min": -1.0, "max": 1.0},
             note="x equal to a bound gets the gradient; NaN stays NaN")
    fam.case("clamp_min", "clamp", [fl(xs)], {"min": 0.0})
    fam.case("clamp_max", "clamp", [fl(xs)], {"max": 0.5})
    fam.case("clamp_table", "clamp_table", [fl(fam.randn(3, 4))], {"min": -0.5, "max": 0.5})
    fam.case("clip", "clip", [fl(fam.randn(3, 4))], {"min": -0.5, "max": 0.25})
    fam.case("clamp_strided", "clamp", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"min": -0.3})
    fam.case("clamp_", "clamp_", [fl(fam.randn(3, 4), view=[["clone"]])], {"min": -0.5, "max": 0.5})
    fam.case("clamp_int64", "clamp", [fx(t([1, 5, -3], torch.int64))], {"min": 0, "max": 2})
    fam.case("clamp_int64_float_bound", "clamp", [fx(t([1, 5, -3], torch.int64))], {"min": 1.5},
             note="a float bound on an integer tensor gives a float32 result")
    fam.case("clamp_min_gt_max", "clamp", [fl(xs)], {"min": 1.0, "max": -1.0},
             note="PyTorch sets every element to max when min > max")
    for n in ("logical_not", "isnan"):
        fam.case(n, n, [fl(t([0.0, -0.0, 1.5, float("nan"), float("inf")]))])
        fam.case(n + "_int64", n, [fx(t([0, 3, -1], torch.int64))])
        fam.case(n + "_bool", n, [fx(t([True, False], torch.bool))])
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])])
        fam.case(n + "_empty", n, [fl(torch.zeros(2, 0))])
    return fam


# ======================================================================================
# binary elementwise ops, comparisons, operators
# ======================================================================================
ARITH = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod", "remainder", "atan2"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]


def _other(a, ys, wrap=False, x=None):
    """The second operand: a tensor input, or the number in args.other. PyTorch's
    maximum, minimum and atan2 take tensors only; luatrain also takes a Lua
    number there, which reads as PyTorch's 0-d tensor of it (the same
    promotion as a number: it only counts across categories)."""
    if ys:
        return ys[0]
    if not wrap:
        return a["other"]
    return torch.tensor(a["other"], dtype=torch.result_type(x, a["other"]))


TENSOR_ONLY = ("maximum", "minimum", "atan2", "logical_and", "logical_or", "logical_xor")


def _inplace_as_copy(name, x, y):
    """PyTorch has no maximum_/minimum_: luatrain's x:maximum_(y) is PyTorch's
    x.copy_(torch.maximum(x, y)) under the in-place rules of add_ (the result
    keeps x's shape, and its dtype must cast to x's)."""
    r = getattr(torch, name)(x.clone(), y)
    if r.shape != x.shape or not torch.can_cast(r.dtype, x.dtype):
        raise RuntimeError("%s_: the result (%s %s) cannot be written into self (%s %s)"
                           % (name, r.dtype, list(r.shape), x.dtype, list(x.shape)))
    return x.copy_(r)


for _n in ARITH:
    if _n in ("add", "sub"):
        op(_n)(lambda a, x, *ys, _n=_n: getattr(torch, _n)(x, _other(a, ys), **({"alpha": a["alpha"]} if "alpha" in a else {})))
        op(_n + "_")(lambda a, x, *ys, _n=_n: getattr(x, _n + "_")(_other(a, ys), **({"alpha": a["alpha"]} if "alpha" in a else {})))
    else:
        op(_n)(lambda a, x, *ys, _n=_n: getattr(torch, _n)(x, _other(a, ys, _n in TENSOR_ONLY, x)))
        if hasattr(torch.Tensor, _n + "_"):
            op(_n + "_")(lambda a, x, *ys, _n=_n: getattr(x, _n + "_")(_other(a, ys, _n in TENSOR_ONLY, x)))
        else:
            op(_n + "_")(lambda a, x, *ys, _n=_n: _inplace_as_copy(_n, x, _other(a, ys, True, x)))
for _n in COMPARE:
    op(_n)(lambda a, x, *ys, _n=_n: getattr(torch, _n)(x, _other(a, ys, _n in TENSOR_ONLY, x)))

op("__add")(lambda a, x, *ys: x + _other(a, ys))
op("__sub")(lambda a, x, *ys: x - _other(a, ys))
op("__mul")(lambda a, x, *ys: x * _other(a, ys))
op("__div")(lambda a, x, *ys: x / _other(a, ys))
op("__pow")(lambda a, x, *ys: x ** _other(a, ys))
op("__mod")(lambda a, x, *ys: x % _other(a, ys))
op("__unm")(lambda a, x: -x)
op("__rsub")(lambda a, x: a["left"] - x)
op("__rdiv")(lambda a, x: a["left"] / x)
op("__rpow")(lambda a, x: a["left"] ** x)
op("__rmod")(lambda a, x: a["left"] % x)
op("__radd")(lambda a, x: a["left"] + x)
op("__rmul")(lambda a, x: a["left"] * x)
op("max_other")(lambda a, x, y: torch.max(x, y))
op("min_other")(lambda a, x, y: torch.min(x, y))


def arith_inputs(n, fam, xs, ys):
    """(x, y) inside the op's domain, away from its poles."""
    x, y = fam.randn(*xs), fam.randn(*ys)
    if n == "pow":
        x = x.abs() + 0.5
    if n in ("div", "fmod", "remainder"):
        y = y.sign() * (y.abs() + 0.5)
    return x, y


def binary_family():
    fam = Family("binary", 202)
    for n in ARITH:
        x, y = arith_inputs(n, fam, (3, 4), (3, 4))
        fam.case(n, n, [fl(x), fl(y)])
        x, y = arith_inputs(n, fam, (3, 1, 4), (5, 4))
        fam.case(n + "_broadcast", n, [fl(x), fl(y)], note="[3,1,4] with [5,4]: the gradients sum over broadcast dims")
        x, y = arith_inputs(n, fam, (4, 6), (1, 4))
        fam.case(n + "_strided", n, [fl(x, view=[["t"], ["step", 0, 2]]), fl(y, view=[["expand", [3, 4]]])],
                 note="a transposed stepped view with an expanded one")
        x, _ = arith_inputs(n, fam, (3, 4), (1,))
        fam.case(n + "_scalar", n, [fl(x)], {"other": 1.5 if n != "pow" else 2.5})
        fam.case(n + "_int_scalar", n, [fl(x)], {"other": 2})
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 3)), fl(fam.randn(3))])
        x, y = arith_inputs(n, fam, (3, 4), (4,))
        fam.case(n + "_", n + "_", [fl(x, view=[["clone"]]), fl(y)])
        fam.case(n + "_scalar_", n + "_", [fl(x, view=[["clone"]])], {"other": 0.75})
        fam.case(n + "_inplace_broadcast_self", n + "_", [fl(fam.randn(4), view=[["clone"]]), fl(fam.randn(3, 4))],
                 raises=True, note="in place, the result must keep self's shape")
        fam.case(n + "_shape_mismatch", n, [fl(fam.randn(3)), fl(fam.randn(4))], raises=True)
        # integer and bool operands, mixed dtypes, scalars of either kind
        ia, ib = t([7, -7, 5, 0, 2], torch.int64), t([2, 3, -2, 3, 1], torch.int64)
        fam.case(n + "_int64", n, [fx(ia), fx(ib)], raises="auto")
        fam.case(n + "_int32_int64", n, [fx(ia.int()), fx(ib)], raises="auto")
        fam.case(n + "_uint8", n, [fx(t([200, 7, 0, 1], torch.uint8)), fx(t([100, 3, 5, 1], torch.uint8))],
                 raises="auto", note="uint8 wraps modulo 256 as in PyTorch")
        fam.case(n + "_bool", n, [fx(t([True, False, True, False])), fx(t([True, True, False, False]))],
                 raises="auto")
        fam.case(n + "_bool_int64", n, [fx(t([True, False, True])), fx(t([2, 3, 1], torch.int64))], raises="auto")
        fam.case(n + "_int64_float32", n, [fx(ia), fx(fam.randn(5).abs() + 0.5)], raises="auto")
        fam.case(n + "_float32_float64", n, [fx(fam.randn(4).abs() + 0.5), fx(fam.randn(4).double().abs() + 0.5)],
                 raises="auto")
        fam.case(n + "_int32_float64", n, [fx(ia.int()), fx(fam.randn(5).double().abs() + 0.5)], raises="auto")
        fam.case(n + "_int64_float_scalar", n, [fx(ia)], {"other": 2.5}, raises="auto")
        fam.case(n + "_int32_int_scalar", n, [fx(ia.int())], {"other": 3}, raises="auto",
                 note="a Lua integer does not widen an int32 tensor (PyTorch's scalar rule)")
        fam.case(n + "_bool_int_scalar", n, [fx(t([True, False]))], {"other": 2}, raises="auto")
        fam.case(n + "_float64_float_scalar", n, [fx(fam.randn(3).double().abs() + 0.5)], {"other": 0.1},
                 raises="auto")
        fam.case(n + "_int64_inplace_float", n + "_", [fx(ia, view=[["clone"]]), fx(fam.randn(5))], raises="auto",
                 note="an in-place op cannot change self's dtype")
        # 0-d tensors take part in promotion only across categories
        x32, s64 = fam.randn(4).abs() + 0.5, torch.tensor(1.0 / 3.0, dtype=torch.float64)
        fam.case("regress_promotion_0d_" + n, n, [fx(x32), fx(s64)],
                 note="float32[n] op float64[] is float32: a 0-d tensor does not widen within its category",
                 tol=1e-4, why="the op computes in float32, so PyTorch's gradient of the float64 0-d input "
                               "carries float32 rounding")
        fam.case("regress_promotion_0d_int_" + n, n, [fx(ia.int()), fx(torch.tensor(3, dtype=torch.int64))],
                 raises="auto", note="int32[n] op int64[] is int32")
        fam.case(n + "_0d_int64_float32", n, [fx(ia), fx(torch.tensor(1.5))], raises="auto",
                 note="int64[n] op float32[] is float32: across categories the 0-d tensor counts")
        fam.case(n + "_0d_float64_float32", n, [fx(fam.randn(3).double().abs() + 0.5), fx(torch.tensor(2.5))],
                 raises="auto")
        fam.case(n + "_0d_both", n, [fx(torch.tensor(1.25)), fx(torch.tensor(0.1, dtype=torch.float64))],
                 raises="auto", note="two 0-d tensors promote as dimensioned ones")
    # special values and the gradients PyTorch defines at them
    fam.case("div_by_zero", "div", [fl(t([1.0, -1.0, 0.0, 2.0])), fl(t([0.0, 0.0, 0.0, -0.0]))])
    fam.case("div_int_by_zero", "div", [fx(t([1, 0], torch.int64)), fx(t([0, 0], torch.int64))],
             note="true division of integers: 1/0 = inf, 0/0 = NaN")
    fam.case("pow_negative_base", "pow", [fl(t([-2.0, -1.0, -0.5, 2.0])), fl(t([0.5, 2.0, 3.0, -1.0]))],
             note="a negative base with a fractional exponent is NaN; with an integer one it is not")
    fam.case("pow_zero_base", "pow", [fl(t([0.0, 0.0, 0.0, 1.0])), fl(t([0.0, 1.0, 2.0, 0.0]))],
             note="PyTorch: d(x^y)/dy is 0 where x = 0 and y >= 0; 0^0 = 1")
    fam.case("pow_tensor_exponent_int", "pow", [fx(t([2, 3, -2], torch.int64)), fx(t([3, 0, 3], torch.int64))])
    fam.case("pow_int_negative_exponent", "pow", [fx(t([2, 3, 1, -1], torch.int64)), fx(t([-1, 2, -2, -3], torch.int64))],
             note="an integer tensor exponent below 0 gives 1/x^n truncated (0 unless |x| = 1)")
    fam.case("pow_int_negative_scalar", "pow", [fx(t([2, 3], torch.int64))], {"other": -1}, raises=True,
             note="integers to a negative integer number are refused")
    fam.case("pow_scalar_half", "pow", [fl(fam.randn(5).abs() + 0.1)], {"other": 0.5})
    fam.case("pow_scalar_zero", "pow", [fl(fam.randn(5))], {"other": 0.0})
    fam.case("pow_scalar_negative", "pow", [fl(fam.randn(5).abs() + 0.5)], {"other": -2})
    for n in ("maximum", "minimum", "max_other", "min_other"):
        fam.case(n + "_ties", n, [fl(t([1.0, 2.0, -1.0, 0.0, 3.0])), fl(t([1.0, 1.0, 0.0, -0.0, 3.0]))],
                 note="equal elements split the gradient in half (PyTorch); -0 and 0 are equal")
        fam.case(n + "_nan", n, [fl(t([float("nan"), 3.0, float("nan"), 1.0])),
                                 fl(t([1.0, float("nan"), float("nan"), 2.0]))],
                 note="NaN propagates; PyTorch's gradient at a NaN result goes to both inputs "
                      "(neither is smaller than the other)")
    for n in ("fmod", "remainder"):
        fam.case(n + "_signs", n, [fl(t([5.0, -5.0, 5.0, -5.0, 0.0, 4.5])), fl(t([3.0, 3.0, -3.0, -3.0, 2.0, 1.5]))],
                 note="fmod takes the dividend's sign, remainder the divisor's")
        fam.case(n + "_int_signs", n, [fx(t([5, -5, 5, -5], torch.int64)), fx(t([3, 3, -3, -3], torch.int64))])
        fam.case(n + "_int_by_zero", n, [fx(t([5, 1], torch.int64)), fx(t([0, 2], torch.int64))], raises=True,
                 note="integer division by zero is an error")
    fam.case("atan2_quadrants", "atan2", [fl(t([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 2.0])),
                                          fl(t([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0]))])
    fam.case("add_alpha", "add", [fl(fam.randn(3, 4)), fl(fam.randn(4))], {"alpha": 2.5})
    fam.case("sub_alpha", "sub", [fl(fam.randn(3, 4)), fl(fam.randn(3, 1))], {"alpha": -0.5})
    fam.case("add_alpha_scalar", "add", [fl(fam.randn(3))], {"other": 2.0, "alpha": 3})
    fam.case("add_alpha_", "add_", [fl(fam.randn(3, 4), view=[["clone"]]), fl(fam.randn(4))], {"alpha": 0.5})
    fam.case("add_alpha_int", "add", [fx(t([1, 2], torch.int64)), fx(t([3, 4], torch.int64))], {"alpha": 2})
    # the Lua operators
    for n in ("__add", "__sub", "__mul", "__div", "__pow", "__mod"):
        x, y = arith_inputs({"__pow": "pow", "__div": "div", "__mod": "remainder"}.get(n, n), fam, (3, 1), (4,))
        fam.case(n, n, [fl(x), fl(y)])
        fam.case(n + "_scalar", n, [fl(x)], {"other": 2})
        fam.case(n + "_int64", n, [fx(t([7, -7, 4], torch.int64)), fx(t([2, 3, 3], torch.int64))], raises="auto")
    fam.case("__unm", "__unm", [fl(fam.randn(3, 4))])
    fam.case("__unm_int64", "__unm", [fx(t([1, -2, 0], torch.int64))])
    fam.case("__unm_bool", "__unm", [fx(t([True, False]))], raises=True)
    for n in ("__radd", "__rsub", "__rmul", "__rdiv", "__rpow", "__rmod"):
        fam.case(n, n, [fl(fam.randn(5).abs() + 0.5, grad=n != "__rmod")], {"left": 2.0},
                 note="a Lua number on the left of an operator" +
                      (" (PyTorch 1.13 has no gradient for a remainder's divisor)" if n == "__rmod" else ""))
        fam.case(n + "_int", n, [fx(t([1, 2, 4], torch.int64))], {"left": 3}, raises="auto")
    # comparisons and logical ops: bool results, broadcasting, NaN, mixed dtypes
    a = t([1.0, 2.0, float("nan"), -0.0, 3.0, float("inf")])
    b = t([1.0, 3.0, float("nan"), 0.0, 2.0, float("inf")])
    for n in COMPARE:
        fam.case(n, n, [fl(a), fl(b)], note="equal elements, NaN (unequal to itself), -0 == 0")
        fam.case(n + "_broadcast", n, [fl(fam.randint(-2, 3, 3, 1).float()), fl(fam.randint(-2, 3, 4).float())])
        fam.case(n + "_scalar", n, [fl(fam.randint(-2, 3, 2, 3).float())], {"other": 1})
        fam.case(n + "_float_scalar", n, [fl(fam.randint(-2, 3, 2, 3).float() / 2)], {"other": 0.5})
        fam.case(n + "_strided", n, [fl(fam.randint(-2, 3, 4, 6).float(), view=[["t"], ["step", 0, 2]]),
                                     fl(fam.randint(-2, 3, 1, 4).float(), view=[["expand", [3, 4]]])])
        fam.case(n + "_int64_float32", n, [fx(t([1, 2, 3], torch.int64)), fx(t([1.0, 2.5, 2.0]))])
        fam.case(n + "_bool", n, [fx(t([True, False, True])), fx(t([True, True, False]))])
        fam.case(n + "_int32_int64", n, [fx(t([1, 2, 3], torch.int32)), fx(t([3, 2, 1], torch.int64))])
        fam.case("regress_promotion_0d_" + n, n, [fx(t([0.1, 0.2, 0.3])), fx(torch.tensor(0.1, dtype=torch.float64))],
                 note="compared in float32 (the 0-d float64 does not widen): 0.1f equals the 0-d 0.1")
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 2)), fl(fam.randn(2))])
        fam.case(n + "_shape_mismatch", n, [fl(fam.randn(3)), fl(fam.randn(2))], raises=True)
    return fam


# ======================================================================================
# reductions
# ======================================================================================
def _red_kw(a):
    kw = {}
    if "keepdim" in a:
        kw["keepdim"] = a["keepdim"]
    return kw


def _reduction(name):
    """x.<name>() or x.<name>(dim, keepdim=)"""
    def f(a, x):
        if "dim" in a:
            return getattr(x, name)(a["dim"], **_red_kw(a))
        return getattr(x, name)()
    return f


for _n in ("sum", "mean", "prod", "any", "all"):
    op(_n)(_reduction(_n))
op("lt_sum")(_reduction("sum"))
op("lt_mean")(_reduction("mean"))


def _stat_mean(name, a, x):
    """torch.var_mean / torch.std_mean: (statistic, mean)"""
    kw = _red_kw(a)
    fn = getattr(torch, name)
    if "correction" in a:
        return tuple(fn(x, dim=a.get("dim"), correction=a["correction"], **kw))
    if "dim" in a:
        return tuple(fn(x, a["dim"], unbiased=a.get("unbiased", True), **kw))
    return tuple(fn(x, unbiased=a.get("unbiased", True)))


def _var_like(name):
    """x.var(dim, unbiased=, keepdim=) or x.var(dim=, correction=, keepdim=)"""
    def f(a, x):
        kw = _red_kw(a)
        if "correction" in a:
            return getattr(x, name)(dim=a.get("dim"), correction=a["correction"], **kw)
        if "dim" in a:
            return getattr(x, name)(a["dim"], unbiased=a.get("unbiased", True), **kw)
        return getattr(x, name)(unbiased=a.get("unbiased", True))
    return f


for _n in ("var", "std"):
    op(_n)(_var_like(_n))
    op(_n + "_positional")(lambda a, x, _n=_n: getattr(x, _n)(a["dim"], a["unbiased"], a["keepdim"]))
    op(_n + "_unbiased_positional")(lambda a, x, _n=_n: getattr(x, _n)(a["unbiased"]))
for _n in ("var_mean", "std_mean"):
    op(_n)(lambda a, x, _n=_n: _stat_mean(_n, a, x))
    op(_n + "_positional")(lambda a, x, _n=_n: tuple(getattr(torch, _n)(x, a["dim"], a["unbiased"], a["keepdim"])))


def _max_like(name):
    """x.max() (a value), or x.max(dim, keepdim=) (values, indices)"""
    def f(a, x):
        if "dim" in a:
            r = getattr(x, name)(a["dim"], **_red_kw(a))
            return r.values, r.indices
        return getattr(x, name)()
    return f


for _n in ("max", "min"):
    op(_n)(_max_like(_n))
for _n in ("argmax", "argmin"):
    op(_n)(lambda a, x, _n=_n: getattr(x, _n)(a.get("dim"), **_red_kw(a)))


@op("norm")
def _norm(a, x):
    return x.norm(a.get("p", "fro"), a.get("dim"), **_red_kw(a))


op("logsumexp")(lambda a, x: torch.logsumexp(x, a["dim"], **_red_kw(a)))
op("cumsum")(lambda a, x: x.cumsum(a["dim"]))
op("lt_cumsum")(lambda a, x: torch.cumsum(x, a["dim"]))


def reduce_family():
    fam = Family("reduce", 303)
    shapes = [{}, {"dim": 1}, {"dim": -1}, {"dim": [0, 2]}, {"dim": [0, 2], "keepdim": True},
              {"dim": 1, "keepdim": True}, {"dim": [0, 1, 2]}, {"dim": [-1, 0]}]
    for n in ("sum", "mean"):
        for k, a in enumerate(shapes):
            fam.case("%s_%d" % (n, k), n, [fl(fam.randn(3, 4, 5))], a)
        fam.case(n + "_permuted", n, [fl(fam.randn(5, 3, 4), view=[["permute", [1, 2, 0]]])], {"dim": [1, 2]},
                 note="over a permuted (non-contiguous) view")
        fam.case(n + "_stepped", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 0})
        fam.case(n + "_expanded", n, [fl(fam.randn(1, 4), view=[["expand", [3, 4]]])], {"dim": 0})
        fam.case(n + "_0d", n, [fl(torch.tensor(2.5))])
        fam.case(n + "_0d_dim", n, [fl(torch.tensor(2.5))], {"dim": 0}, note="dim 0 (-1) of a 0-d tensor")
        for k, a in enumerate([{}, {"dim": 0}, {"dim": 1}, {"dim": 1, "keepdim": True}]):
            fam.case("%s_empty_%d" % (n, k), n, [fl(torch.zeros(0, 4))], a,
                     note="sum of nothing is 0, mean of nothing NaN")
        for dt in (torch.int64, torch.int32, torch.uint8, torch.bool):
            v = fam.randint(0, 3, 3, 4).to(dt)
            fam.case("%s_%s" % (n, str(dt)[6:]), n, [fx(v)], raises="auto",
                     note="integer and bool sums are int64; their mean is refused")
            fam.case("%s_%s_dim" % (n, str(dt)[6:]), n, [fx(v)], {"dim": 1}, raises="auto")
    fam.case("lt_sum", "lt_sum", [fl(fam.randn(3, 4))], {"dim": 0})
    fam.case("sum_repeated_dim", "sum", [fl(fam.randn(3, 4))], {"dim": [0, 0]}, raises=True)
    fam.case("sum_dim_out_of_range", "sum", [fl(fam.randn(3, 4))], {"dim": 2}, raises=True)
    fam.case("mean_dim_out_of_range", "mean", [fl(fam.randn(3, 4))], {"dim": -3}, raises=True)
    fam.case("sum_size1_dim", "sum", [fl(fam.randn(3, 1, 2))], {"dim": 1, "keepdim": True})
    fam.case("lt_mean", "lt_mean", [fl(fam.randn(3, 4))], {"dim": [0, 1], "keepdim": True})
    fam.case("sum_large_n", "sum", [fl(fam.randn(64, 256) + 3)], {"dim": 1},
             note="256-term rows with a mean of 3: float32 accumulation order matters")
    # prod: zeros make the gradient interesting (one zero: only it gets a gradient; two: none)
    fam.case("prod", "prod", [fl(fam.randn(3, 4))])
    fam.case("prod_dim", "prod", [fl(fam.randn(3, 4))], {"dim": 1})
    fam.case("prod_dim_keepdim", "prod", [fl(fam.randn(3, 4))], {"dim": 0, "keepdim": True})
    fam.case("prod_zeros", "prod", [fl(t([[1.5, 0.0, 2.0], [0.0, 3.0, 0.0], [1.0, 2.0, -1.0]]))], {"dim": 1},
             note="a row with one zero sends the gradient only to it; two zeros give zero gradient")
    fam.case("prod_zeros_full", "prod", [fl(t([[1.5, 0.0, 2.0], [0.5, 3.0, -1.0]]))])
    fam.case("prod_empty", "prod", [fl(torch.zeros(0, 3))], {"dim": 0})
    fam.case("prod_strided", "prod", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
    for dt in (torch.int64, torch.int32, torch.bool):
        fam.case("prod_" + str(dt)[6:], "prod", [fx(fam.randint(1, 4, 3, 4).to(dt))], {"dim": 1}, raises="auto")
    # var / std
    for n in ("var", "std"):
        fam.case(n, n, [fl(fam.randn(3, 4, 5))])
        fam.case(n + "_dim", n, [fl(fam.randn(3, 4, 5))], {"dim": 1})
        fam.case(n + "_dims_keepdim", n, [fl(fam.randn(3, 4, 5))], {"dim": [0, 2], "keepdim": True})
        fam.case(n + "_biased", n, [fl(fam.randn(3, 4))], {"dim": 1, "unbiased": False})
        fam.case(n + "_biased_full", n, [fl(fam.randn(3, 4))], {"unbiased": False})
        fam.case(n + "_correction0", n, [fl(fam.randn(3, 4))], {"dim": 0, "correction": 0})
        fam.case(n + "_correction2", n, [fl(fam.randn(5, 4))], {"dim": 0, "correction": 2})
        fam.case(n + "_correction_full", n, [fl(fam.randn(5, 4))], {"correction": 3})
        fam.case(n + "_large_mean", n, [fl(fam.randn(8, 64) * 0.1 + 1e4)], {"dim": 1},
                 note="a mean of 1e4 with a spread of 0.1: a one-pass float32 sum of squares would be off "
                      "by a factor of hundreds",
                 why="float32 resolves 1e4 to 1e-3, so the deviations from the mean (0.1) carry about "
                     "0.5% error in PyTorch's own float32 result")
        fam.case(n + "_single", n, [fl(fam.randn(1, 3))], {"dim": 0},
                 note="one element: the unbiased estimate divides by 0 and is NaN")
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 3))], {"dim": 0})
        fam.case(n + "_int64", n, [fx(fam.randint(0, 5, 3, 4))], {"dim": 1}, raises=True)
        fam.case("regress_var_positional_" + n, n + "_positional", [fl(fam.randn(3, 4, 5))],
                 {"dim": 1, "unbiased": False, "keepdim": True},
                 note="PyTorch's positional form var(dim, unbiased, keepdim)")
        fam.case("regress_var_unbiased_positional_" + n, n + "_unbiased_positional", [fl(fam.randn(3, 4))],
                 {"unbiased": False}, note="PyTorch's var(unbiased) with the flag alone: var(False) is biased")
    for n in ("var_mean", "std_mean"):
        fam.case(n, n, [fl(fam.randn(3, 4, 5))], {"dim": 1},
                 note="torch.%s: the statistic and the mean over the same dims" % n)
        fam.case(n + "_full", n, [fl(fam.randn(3, 4))])
        fam.case(n + "_biased_keepdim", n, [fl(fam.randn(3, 4, 5))], {"dim": [0, 2], "unbiased": False,
                                                                    "keepdim": True})
        fam.case(n + "_correction", n, [fl(fam.randn(5, 4))], {"dim": 0, "correction": 2})
        fam.case(n + "_large_mean", n, [fl(fam.randn(4, 64) * 0.1 + 1e4)], {"dim": 1},
                 why="float32 resolves 1e4 to 1e-3, so the deviations from the mean (0.1) carry about "
                     "0.5% error in PyTorch's own float32 result")
        fam.case(n + "_positional", n + "_positional", [fl(fam.randn(3, 4))], {"dim": 1, "unbiased": False,
                                                                              "keepdim": True})
    fam.case("regress_std_backward_zero", "std", [fl(t([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]))], {"dim": 1},
             note="a row of equal values: std is 0 and PyTorch's gradient there is 0, not NaN")
    fam.case("regress_std_backward_zero_full", "std", [fl(torch.full((2, 3), 0.5))])
    fam.case("var_backward_zero", "var", [fl(t([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]))], {"dim": 1})
    # max / min: values (and indices with a dim); ties; NaN
    for n in ("max", "min"):
        fam.case(n, n, [fl(fam.randn(3, 4, 5))])
        fam.case(n + "_dim", n, [fl(fam.randn(3, 4, 5))], {"dim": 1})
        fam.case(n + "_dim_neg_keepdim", n, [fl(fam.randn(3, 4, 5))], {"dim": -1, "keepdim": True})
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 0})
        ties = t([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -5.0, -1.0]])
        fam.case(n + "_dim_ties", n, [fl(ties)], {"dim": 1},
                 note="PyTorch documents the index of the first extreme value along dim; the gradient goes "
                      "to that element")
        fam.case(n + "_full_ties", n, [fl(ties)],
                 note="over all elements, PyTorch spreads the gradient evenly over the tied elements")
        fam.case(n + "_nan", n, [fl(t([[1.0, float("nan"), 3.0], [2.0, 0.0, -1.0]]))], {"dim": 1},
                 note="NaN propagates: the NaN is the extreme value and its index is returned")
        fam.case(n + "_nan_full", n, [fl(t([[1.0, float("nan"), 3.0], [2.0, 0.0, -1.0]]))])
        fam.case(n + "_inf", n, [fl(t([float("inf"), float("-inf"), 0.0]))])
        fam.case(n + "_int64", n, [fx(fam.randint(-5, 5, 3, 4))], {"dim": 0})
        fam.case(n + "_int64_full", n, [fx(fam.randint(-5, 5, 3, 4))])
        fam.case(n + "_bool", n, [fx(t([[True, False], [False, False]]))], {"dim": 1})
        fam.case(n + "_empty_full", n, [fl(torch.zeros(0, 3))], raises=True,
                 note="the extreme value of nothing is refused")
        fam.case(n + "_empty_dim", n, [fl(torch.zeros(0, 3))], {"dim": 1})
        fam.case(n + "_empty_reduced_dim", n, [fl(torch.zeros(0, 3))], {"dim": 0}, raises=True)
        fam.case(n + "_0d", n, [fl(torch.tensor(1.5))], {"dim": 0})
    for n in ("argmax", "argmin"):
        fam.case(n, n, [fl(fam.randn(3, 4, 5))])
        fam.case(n + "_dim", n, [fl(fam.randn(3, 4, 5))], {"dim": 2})
        fam.case(n + "_dim_keepdim", n, [fl(fam.randn(3, 4, 5))], {"dim": 0, "keepdim": True})
        fam.case(n + "_ties", n, [fl(t([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]))], {"dim": 1},
                 note="PyTorch documents the first index of the extreme value")
        fam.case(n + "_ties_full", n, [fl(t([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 0.0, 3.0]]))])
        fam.case(n + "_nan", n, [fl(t([[1.0, float("nan"), 3.0], [2.0, 0.0, -1.0]]))], {"dim": 1})
        fam.case(n + "_int64", n, [fx(fam.randint(-5, 5, 3, 4))], {"dim": 1})
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 3))], raises=True)
    # any / all
    for n in ("any", "all"):
        for dt in (torch.bool, torch.int64, torch.float32, torch.uint8):
            v = (fam.randint(0, 3, 3, 4) * (fam.randint(0, 2, 3, 4))).to(dt)
            fam.case("%s_%s" % (n, str(dt)[6:]), n, [fx(v)], note="uint8 reductions give uint8 in PyTorch")
            fam.case("%s_%s_dim" % (n, str(dt)[6:]), n, [fx(v)], {"dim": 1})
        fam.case(n + "_keepdim", n, [fx(fam.randint(0, 2, 3, 4).bool())], {"dim": 0, "keepdim": True})
        fam.case(n + "_nan", n, [fx(t([float("nan"), 0.0]))], note="NaN is true")
        fam.case(n + "_empty", n, [fx(torch.zeros(0, 2, dtype=torch.bool))])
        fam.case(n + "_empty_dim", n, [fx(torch.zeros(0, 2, dtype=torch.bool))], {"dim": 0})
    # norm
    for k, a in enumerate([{}, {"p": 1}, {"p": float("inf")}, {"p": 3}, {"p": 0}, {"p": "fro"},
                           {"p": 2, "dim": 1}, {"p": 1, "dim": [0, 1]}, {"p": 2, "dim": 0, "keepdim": True},
                           {"p": float("inf"), "dim": 1}, {"p": 0.5, "dim": 1}, {"p": 1.5}]):
        fam.case("norm_%d" % k, "norm", [fl(fam.randn(3, 4))], a)
    fam.case("norm_zero", "norm", [fl(torch.zeros(4))], note="PyTorch: the gradient of the 2-norm at 0 is 0")
    fam.case("norm_zero_p1", "norm", [fl(t([0.0, 1.5, -2.0, 0.0]))], {"p": 1})
    fam.case("norm_inf_ties", "norm", [fl(t([3.0, -3.0, 1.0]))], {"p": float("inf")},
             note="the inf-norm's gradient is spread over the tied largest magnitudes")
    fam.case("norm_strided", "norm", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
    fam.case("norm_empty", "norm", [fl(torch.zeros(0, 3))], {"dim": 0})
    fam.case("norm_int64", "norm", [fx(t([3, 4]))], raises=True)
    fam.case("regress_norm_neg_inf", "norm", [fl(fam.randn(3, 4))], {"p": float("-inf"), "dim": 1},
             note="p = -inf: the smallest magnitude")
    fam.case("regress_norm_neg_inf_full", "norm", [fl(fam.randn(3, 4))], {"p": float("-inf")})
    fam.case("regress_norm_negative_p", "norm", [fl(fam.randn(3, 4))], {"p": -1, "dim": 1},
             note="p < 0: (sum |x|^p)^(1/p)")
    fam.case("regress_norm_negative_p_half", "norm", [fl(fam.randn(3, 4))], {"p": -0.5})
    # logsumexp
    fam.case("regress_logsumexp", "logsumexp", [fl(fam.randn(3, 4))], {"dim": 1})
    fam.case("regress_logsumexp_keepdim", "logsumexp", [fl(fam.randn(3, 4, 5))], {"dim": [0, 2], "keepdim": True})
    fam.case("regress_logsumexp_large", "logsumexp", [fl(t([[1e4, 1e4 + 1, -1e4], [-50.0, 0.0, 50.0]]))],
             {"dim": 1}, note="large values: the max is subtracted first",
             why="float32 rounds the result 10001.31 to 1e-3; the gradient exp(x - lse) inherits that "
                 "(PyTorch's own float32 gradient is 1.1e-4 off)")
    fam.case("regress_logsumexp_neg_inf", "logsumexp", [fl(t([[float("-inf"), 0.0], [float("-inf"), float("-inf")]]))],
             {"dim": 1}, note="a row of -inf gives -inf")
    # cumsum
    fam.case("cumsum", "cumsum", [fl(fam.randn(3, 4))], {"dim": 1})
    fam.case("cumsum_dim0", "cumsum", [fl(fam.randn(3, 4, 2))], {"dim": 0})
    fam.case("cumsum_neg", "cumsum", [fl(fam.randn(3, 4))], {"dim": -1})
    fam.case("cumsum_strided", "cumsum", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
    fam.case("cumsum_empty", "cumsum", [fl(torch.zeros(0, 3))], {"dim": 1})
    fam.case("cumsum_0d", "cumsum", [fl(torch.tensor(2.0))], {"dim": 0})
    fam.case("lt_cumsum", "lt_cumsum", [fl(fam.randn(5))], {"dim": 0})
    for dt in (torch.int32, torch.int64, torch.bool, torch.uint8):
        fam.case("cumsum_" + str(dt)[6:], "cumsum", [fx(fam.randint(0, 3, 2, 4).to(dt))], {"dim": 1},
                 note="integer and bool inputs accumulate in int64")
    return fam


# ======================================================================================
# joining, splitting, indexing, sorting
# ======================================================================================
op("cat")(lambda a, *xs: torch.cat(xs, a.get("dim", 0)))
op("concat")(lambda a, *xs: torch.concat(xs, a.get("dim", 0)))
op("stack")(lambda a, *xs: torch.stack(xs, a.get("dim", 0)))
op("split", "lt_split")(lambda a, x: tuple(x.split(a["size"], a.get("dim", 0))))
op("chunk", "lt_chunk")(lambda a, x: tuple(x.chunk(a["chunks"], a.get("dim", 0))))
op("index_select", "lt_index_select")(lambda a, x, i: x.index_select(a["dim"], i))
op("index_select_list")(lambda a, x: x.index_select(a["dim"], torch.tensor(a["index"], dtype=torch.int64)))
op("gather", "lt_gather")(lambda a, x, i: x.gather(a["dim"], i))
op("scatter", "lt_scatter")(lambda a, x, i, *src: x.scatter(a["dim"], i, src[0] if src else a["value"]))
op("scatter_", "lt_scatter_")(lambda a, x, i, *src: x.scatter_(a["dim"], i, src[0] if src else a["value"]))
op("scatter_add", "lt_scatter_add")(lambda a, x, i, src: x.scatter_add(a["dim"], i, src))
op("scatter_add_", "lt_scatter_add_")(lambda a, x, i, src: x.scatter_add_(a["dim"], i, src))
op("index_add", "lt_index_add")(lambda a, x, i, src: x.index_add(a["dim"], i, src))
op("index_add_", "lt_index_add_")(lambda a, x, i, src: x.index_add_(a["dim"], i, src))
op("one_hot")(lambda a, i: F.one_hot(i, a.get("num_classes", -1)))


@op("sort", "lt_sort")
def _sort(a, x):
    r = x.sort(stable=True, dim=a.get("dim", -1), descending=a.get("descending", False))
    return r.values, r.indices


op("argsort", "lt_argsort")(lambda a, x: _sort(a, x)[1])


@op("topk", "lt_topk")
def _topk(a, x):
    r = x.topk(a["k"], a.get("dim", -1), a.get("largest", True), a.get("sorted", True))
    return r.values, r.indices


def idx(values):
    return torch.tensor(values, dtype=torch.int64)


def index_family():
    fam = Family("index", 404)
    # cat / concat / stack
    fam.case("cat", "cat", [fl(fam.randn(2, 3)), fl(fam.randn(4, 3))])
    fam.case("cat_dim1", "cat", [fl(fam.randn(2, 3)), fl(fam.randn(2, 1)), fl(fam.randn(2, 2))], {"dim": 1})
    fam.case("cat_neg_dim", "cat", [fl(fam.randn(2, 3, 2)), fl(fam.randn(2, 3, 1))], {"dim": -1})
    fam.case("cat_strided", "cat", [fl(fam.randn(3, 2), view=[["t"]]), fl(fam.randn(4, 6), view=[["step", 1, 2]])],
             {"dim": 0}, note="a transposed and a stepped view")
    fam.case("cat_one", "cat", [fl(fam.randn(2, 3))], {"dim": 1})
    fam.case("cat_empty_part", "cat", [fl(fam.randn(2, 3)), fl(torch.zeros(0, 3))])
    fam.case("cat_legacy_empty", "cat", [fl(fam.randn(2, 3)), fl(torch.zeros(0))],
             note="a 1-D empty tensor is skipped whatever the other shapes (PyTorch's legacy rule)")
    fam.case("cat_int64", "cat", [fx(idx([1, 2])), fx(idx([3]))])
    fam.case("cat_bool", "cat", [fx(t([True])), fx(t([False, True]))])
    fam.case("cat_mixed_float", "cat", [fx(fam.randn(2)), fx(fam.randn(2).double())],
             note="cat promotes its inputs (float32 with float64 is float64)")
    fam.case("cat_mixed_int_float", "cat", [fx(idx([1, 2])), fx(fam.randn(2))])
    fam.case("cat_shape_mismatch", "cat", [fl(fam.randn(2, 3)), fl(fam.randn(2, 4))], raises=True)
    fam.case("cat_ndim_mismatch", "cat", [fl(fam.randn(2, 3)), fl(fam.randn(3))], raises=True)
    fam.case("concat", "concat", [fl(fam.randn(2, 3)), fl(fam.randn(2, 3))], {"dim": 1})
    fam.case("stack", "stack", [fl(fam.randn(2, 3)), fl(fam.randn(2, 3))])
    fam.case("stack_dim1", "stack", [fl(fam.randn(2, 3)), fl(fam.randn(2, 3)), fl(fam.randn(2, 3))], {"dim": 1})
    fam.case("stack_last", "stack", [fl(fam.randn(2, 3)), fl(fam.randn(3, 2), view=[["t"]])], {"dim": -1})
    fam.case("stack_0d", "stack", [fl(torch.tensor(1.5)), fl(torch.tensor(-2.0))])
    fam.case("stack_int64", "stack", [fx(idx([1, 2])), fx(idx([3, 4]))], {"dim": 1})
    fam.case("stack_mixed", "stack", [fx(idx([1, 2])), fx(fam.randn(2))], note="stack promotes too")
    fam.case("stack_shape_mismatch", "stack", [fl(fam.randn(2, 3)), fl(fam.randn(3, 2))], raises=True)
    # split / chunk: views of the input, gradients flow back
    for k, (size, dim) in enumerate([(2, 0), (2, 1), ([1, 3], 1), ([0, 4], 1), (5, 1), (3, -1)]):
        fam.case("split_%d" % k, "split", [fl(fam.randn(3, 4))], {"size": size, "dim": dim})
    fam.case("split_bad_sizes", "split", [fl(fam.randn(3, 4))], {"size": [1, 2], "dim": 1}, raises=True)
    fam.case("lt_split", "lt_split", [fl(fam.randn(5, 2))], {"size": 2})
    for k, (n, dim) in enumerate([(2, 0), (3, 1), (4, 1), (6, 1), (2, -1)]):
        fam.case("chunk_%d" % k, "chunk", [fl(fam.randn(3, 5))], {"chunks": n, "dim": dim},
                 note="PyTorch's sizes: ceil(size/chunks) each, fewer pieces when that covers the dim early")
    fam.case("chunk_empty_dim", "chunk", [fl(torch.zeros(2, 0))], {"chunks": 3, "dim": 1})
    fam.case("lt_chunk", "lt_chunk", [fl(fam.randn(4, 2))], {"chunks": 2})
    # index_select / gather: 0-based indices here, 1-based in luatrain
    fam.case("index_select", "index_select", [fl(fam.randn(4, 3)), fx(idx([3, 0, 0, 2]))], {"dim": 0},
             note="repeated indices add their gradients")
    fam.case("index_select_dim1", "index_select", [fl(fam.randn(2, 5)), fx(idx([4, 1]))], {"dim": 1})
    fam.case("index_select_strided", "index_select", [fl(fam.randn(4, 6), view=[["t"]]), fx(idx([5, 0]))], {"dim": 0})
    fam.case("index_select_empty", "index_select", [fl(fam.randn(4, 3)), fx(idx([]))], {"dim": 0})
    fam.case("index_select_int32", "index_select", [fl(fam.randn(4, 3)), fx(t([1, 3], torch.int32))], {"dim": 0})
    fam.case("index_select_int64_values", "index_select", [fx(idx([10, 20, 30])), fx(idx([2, 0]))], {"dim": 0})
    fam.case("index_select_list", "index_select_list", [fl(fam.randn(4, 3))], {"dim": 0, "index": [1, 1, 3]})
    fam.case("lt_index_select", "lt_index_select", [fl(fam.randn(4, 3)), fx(idx([2]))], {"dim": 1})
    fam.case("index_select_out_of_range", "index_select", [fl(fam.randn(4, 3)), fx(idx([4]))], {"dim": 0},
             raises=True)
    fam.case("index_select_negative", "index_select", [fl(fam.randn(4, 3)), fx(idx([-1]))], {"dim": 0},
             raises=True, note="a negative index is out of range (it does not count from the end)")
    fam.case("index_select_float_index", "index_select", [fl(fam.randn(4, 3)), fx(t([1.0]))], {"dim": 0},
             raises=True)
    fam.case("gather", "gather", [fl(fam.randn(3, 4)), fx(idx([[0, 0, 3], [1, 2, 1], [3, 3, 3]]))], {"dim": 1})
    fam.case("gather_dim0", "gather", [fl(fam.randn(3, 4)), fx(idx([[2, 0, 1, 1]]))], {"dim": 0})
    fam.case("gather_3d", "gather", [fl(fam.randn(2, 3, 4)), fx(fam.randint(0, 3, 2, 2, 4))], {"dim": 1})
    fam.case("gather_strided", "gather", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]]),
                                          fx(idx([[0, 3], [1, 1], [2, 0]]))], {"dim": 1})
    fam.case("gather_smaller_index", "gather", [fl(fam.randn(4, 5)), fx(idx([[4], [0]]))], {"dim": 1},
             note="the index may be smaller than the input in the other dims")
    fam.case("gather_empty", "gather", [fl(fam.randn(3, 4)), fx(torch.zeros(3, 0, dtype=torch.int64))], {"dim": 1})
    fam.case("gather_int64_values", "gather", [fx(idx([[1, 2], [3, 4]])), fx(idx([[1, 0], [0, 0]]))], {"dim": 1})
    fam.case("lt_gather", "lt_gather", [fl(fam.randn(3, 4)), fx(idx([[0], [3], [2]]))], {"dim": 1})
    fam.case("gather_out_of_range", "gather", [fl(fam.randn(3, 4)), fx(idx([[4]]))], {"dim": 1}, raises=True)
    fam.case("gather_negative", "gather", [fl(fam.randn(3, 4)), fx(idx([[-1]]))], {"dim": 1}, raises=True)
    # scatter (no repeated positions: PyTorch leaves the winner unspecified), scatter_add, index_add
    perm = idx([[2, 0, 1], [1, 2, 0]])
    fam.case("scatter", "scatter", [fl(fam.randn(2, 4)), fx(perm), fl(fam.randn(2, 3))], {"dim": 1},
             note="the gradient of the overwritten positions of self is 0")
    fam.case("scatter_dim0", "scatter", [fl(fam.randn(3, 2)), fx(idx([[1, 0], [2, 1]])), fl(fam.randn(2, 2))],
             {"dim": 0})
    fam.case("scatter_value", "scatter", [fl(fam.randn(2, 4)), fx(perm)], {"dim": 1, "value": 2.5})
    fam.case("scatter_src_larger", "scatter", [fl(fam.randn(2, 4)), fx(idx([[3], [0]])), fl(fam.randn(2, 3), grad=False)],
             {"dim": 1}, note="src may be larger than the index (PyTorch 1.13 cannot differentiate src then)")
    fam.case("scatter_int64", "scatter", [fx(idx([[0, 0, 0]])), fx(idx([[2, 0]])), fx(idx([[5, 6]]))], {"dim": 1})
    fam.case("scatter_", "scatter_", [fl(fam.randn(2, 4), view=[["clone"]]), fx(perm), fl(fam.randn(2, 3))],
             {"dim": 1})
    fam.case("scatter__value", "scatter_", [fl(fam.randn(2, 4), view=[["clone"]]), fx(perm)],
             {"dim": 1, "value": -1.0})
    fam.case("lt_scatter", "lt_scatter", [fl(fam.randn(2, 4)), fx(perm), fl(fam.randn(2, 3))], {"dim": 1})
    fam.case("lt_scatter_", "lt_scatter_", [fl(fam.randn(2, 4), view=[["clone"]]), fx(perm)],
             {"dim": 1, "value": 0.5})
    fam.case("scatter_out_of_range", "scatter", [fl(fam.randn(2, 4)), fx(idx([[4]])), fl(fam.randn(1, 1))],
             {"dim": 1}, raises=True)
    dup = idx([[0, 0, 3, 0], [1, 1, 1, 2]])
    fam.case("scatter_add", "scatter_add", [fl(fam.randn(2, 4)), fx(dup), fl(fam.randn(2, 4))], {"dim": 1},
             note="repeated positions add up")
    fam.case("scatter_add_dim0", "scatter_add", [fl(fam.randn(3, 2)), fx(idx([[2, 2], [0, 2]])),
                                                 fl(fam.randn(2, 2))], {"dim": 0})
    fam.case("scatter_add_", "scatter_add_", [fl(fam.randn(2, 4), view=[["clone"]]), fx(dup), fl(fam.randn(2, 4))],
             {"dim": 1})
    fam.case("scatter_add_int64", "scatter_add", [fx(idx([[0, 0, 0]])), fx(idx([[1, 1, 2]])), fx(idx([[1, 2, 3]]))],
             {"dim": 1})
    fam.case("lt_scatter_add", "lt_scatter_add", [fl(fam.randn(2, 4)), fx(dup), fl(fam.randn(2, 4))], {"dim": 1})
    fam.case("lt_scatter_add_", "lt_scatter_add_", [fl(fam.randn(2, 4), view=[["clone"]]), fx(dup),
                                                     fl(fam.randn(2, 4))], {"dim": 1})
    fam.case("index_add", "index_add", [fl(fam.randn(4, 3)), fx(idx([3, 0, 3])), fl(fam.randn(3, 3))], {"dim": 0},
             note="repeated indices add up")
    fam.case("index_add_dim1", "index_add", [fl(fam.randn(2, 5)), fx(idx([4, 4])), fl(fam.randn(2, 2))], {"dim": 1})
    fam.case("index_add_", "index_add_", [fl(fam.randn(4, 3), view=[["clone"]]), fx(idx([1, 2])),
                                          fl(fam.randn(2, 3))], {"dim": 0})
    fam.case("index_add_int64", "index_add", [fx(idx([1, 2, 3])), fx(idx([0, 0])), fx(idx([5, 6]))], {"dim": 0})
    fam.case("lt_index_add", "lt_index_add", [fl(fam.randn(4, 3)), fx(idx([0])), fl(fam.randn(1, 3))], {"dim": 0})
    fam.case("lt_index_add_", "lt_index_add_", [fl(fam.randn(4, 3), view=[["clone"]]), fx(idx([3])),
                                                fl(fam.randn(1, 3))], {"dim": 0})
    fam.case("index_add_out_of_range", "index_add", [fl(fam.randn(4, 3)), fx(idx([4])), fl(fam.randn(1, 3))],
             {"dim": 0}, raises=True)
    # one_hot: class labels 0..C-1 here, 1..C in luatrain
    fam.case("one_hot", "one_hot", [fx(idx([0, 2, 1, 2]))], {"num_classes": 4})
    fam.case("one_hot_infer", "one_hot", [fx(idx([[0, 2], [1, 1]]))], note="num_classes from the largest label")
    fam.case("one_hot_empty", "one_hot", [fx(idx([]))], {"num_classes": 3})
    fam.case("one_hot_out_of_range", "one_hot", [fx(idx([0, 3]))], {"num_classes": 3}, raises=True)
    fam.case("one_hot_negative", "one_hot", [fx(idx([-1, 0]))], {"num_classes": 3}, raises=True)
    # sort / argsort: luatrain documents a stable sort, as PyTorch's stable=True
    fam.case("sort", "sort", [fl(fam.randn(3, 5))])
    fam.case("sort_dim0_desc", "sort", [fl(fam.randn(4, 3))], {"dim": 0, "descending": True})
    ties = t([[2.0, 1.0, 2.0, 1.0, 3.0, 1.0], [0.0, -0.0, 0.0, 5.0, 5.0, -1.0]])
    fam.case("sort_ties", "sort", [fl(ties)],
             note="equal values keep their order (luatrain's sort is stable, as PyTorch's stable=True)")
    fam.case("sort_ties_desc", "sort", [fl(ties)], {"descending": True})
    fam.case("sort_nan", "sort", [fl(t([3.0, float("nan"), -1.0, float("inf"), float("nan"), float("-inf")]))],
             note="NaN sorts above +inf (PyTorch)")
    fam.case("sort_nan_desc", "sort", [fl(t([3.0, float("nan"), -1.0, float("inf")]))], {"descending": True})
    fam.case("sort_strided", "sort", [fl(fam.randn(4, 6), view=[["t"]])], {"dim": 1})
    fam.case("sort_empty", "sort", [fl(torch.zeros(2, 0))])
    fam.case("sort_0d", "sort", [fl(torch.tensor(1.5))])
    fam.case("sort_int64", "sort", [fx(idx([3, -1, 3, 2, -1]))])
    fam.case("sort_bool", "sort", [fx(t([True, False, True, False]))], raises="auto")
    fam.case("lt_sort", "lt_sort", [fl(fam.randn(2, 4))], {"dim": 1, "descending": True})
    fam.case("argsort", "argsort", [fl(ties)])
    fam.case("argsort_desc", "argsort", [fl(ties)], {"dim": 1, "descending": True})
    fam.case("lt_argsort", "lt_argsort", [fl(fam.randn(4, 3))], {"dim": 0})
    # topk: PyTorch leaves the order among equal values open, so the tie cases
    # check a tie-invariant property (run.lua CHECKS.topk_ties)
    fam.case("topk", "topk", [fl(fam.randn(3, 6))], {"k": 2})
    fam.case("topk_smallest", "topk", [fl(fam.randn(3, 6))], {"k": 3, "largest": False})
    fam.case("topk_dim0", "topk", [fl(fam.randn(5, 3))], {"k": 2, "dim": 0})
    fam.case("topk_all", "topk", [fl(fam.randn(2, 4))], {"k": 4})
    fam.case("topk_zero", "topk", [fl(fam.randn(2, 4))], {"k": 0})
    fam.case("topk_strided", "topk", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"k": 2})
    fam.case("topk_ties", "topk", [fl(ties)], {"k": 3}, check="topk_ties",
             note="ties: the values must be PyTorch's; the indices must point at those values, be distinct, and "
                  "take the gradient (which element of a tie is picked is unspecified)")
    fam.case("topk_ties_smallest", "topk", [fl(ties)], {"k": 4, "largest": False}, check="topk_ties")
    fam.case("topk_unsorted", "topk", [fl(fam.randn(2, 6))], {"k": 3, "sorted": False}, check="topk_ties",
             note="sorted=false: PyTorch leaves the order open; the same set of values must come back")
    fam.case("topk_int64", "topk", [fx(idx([[5, 1, 3, 9]]))], {"k": 2})
    fam.case("topk_too_large", "topk", [fl(fam.randn(2, 3))], {"k": 4}, raises=True)
    fam.case("lt_topk", "lt_topk", [fl(fam.randn(2, 5))], {"k": 1})
    return fam


# ======================================================================================
# views, layout, conversions, queries
# ======================================================================================
def layout(y):
    """A view op's result with its strides and storage offset (checked too)."""
    return y, list(y.stride()), y.storage_offset()


op("view")(lambda a, x: layout(x.view(a["shape"])))
op("reshape")(lambda a, x: x.reshape(a["shape"]))
op("view_as")(lambda a, x, y: layout(x.view_as(y)))
op("narrow")(lambda a, x: layout(x.narrow(a["dim"], a["start"], a["length"])))
op("select")(lambda a, x: layout(x.select(a["dim"], a["index"])))
op("index_number")(lambda a, x: layout(x[a["index"]]))
op("transpose")(lambda a, x: layout(x.transpose(a["dim0"], a["dim1"])))
op("t")(lambda a, x: layout(x.t()))
op("permute")(lambda a, x: layout(x.permute(*a["dims"])))
op("permute_list")(lambda a, x: layout(x.permute(*a["dims"])))
op("squeeze")(lambda a, x: layout(x.squeeze(a["dim"]) if "dim" in a else x.squeeze()))
op("unsqueeze")(lambda a, x: layout(x.unsqueeze(a["dim"])))
op("expand")(lambda a, x: layout(x.expand(*a["shape"])))
op("expand_as")(lambda a, x, y: layout(x.expand_as(y)))
op("flatten")(lambda a, x: x.flatten(a.get("start_dim", 0), a.get("end_dim", -1)))
op("contiguous")(lambda a, x: layout(x.contiguous(memory_format=torch.channels_last)
                                     if a.get("memory_format") == "channels_last" else x.contiguous()))
op("clone")(lambda a, x: layout(x.clone()))
op("to_dtype")(lambda a, x: x.to(getattr(torch, a["dtype"])))
op("to_other")(lambda a, x, y: x.to(y))
op("to_channels_last")(lambda a, x: layout(x.to(memory_format=torch.channels_last)))
op("type_as")(lambda a, x, y: x.type_as(y))
op("cpu")(lambda a, x: x.cpu())
for _n in ("float", "double", "long", "int", "byte", "bool", "half", "bfloat16"):
    op(_n)(lambda a, x, _n=_n: getattr(x, _n)())
op("shape")(lambda a, x: list(x.shape))
op("size")(lambda a, x: x.size(a["dim"]) if "dim" in a else list(x.size()))
op("stride")(lambda a, x: x.stride(a["dim"]) if "dim" in a else list(x.stride()))
op("dim")(lambda a, x: x.dim())
op("numel")(lambda a, x: x.numel())
op("dtype")(lambda a, x: x.dtype)
op("device")(lambda a, x: str(x.device))
op("is_contiguous")(lambda a, x: x.is_contiguous(memory_format=torch.channels_last)
                    if a.get("memory_format") == "channels_last" else x.is_contiguous())
op("is_floating_point")(lambda a, x: x.is_floating_point())
op("element_size")(lambda a, x: x.element_size())
op("storage_offset")(lambda a, x: x.storage_offset())
op("item")(lambda a, x: x.item())
op("tolist")(lambda a, x: x.tolist())
op("len")(lambda a, x: len(x))
op("is_tensor")(lambda a, x: (torch.is_tensor(x), torch.is_tensor(a["number"])))


@op("shares_storage")
def _shares_storage(a, x):
    def same(u, v):
        return u.storage().data_ptr() == v.storage().data_ptr()
    return same(x, x.t()), same(x, x[1]), same(x, x.clone()), same(x, x.reshape(-1))


def _first(r):
    return r[0] if isinstance(r, tuple) else r


op("layout_of")(lambda a, *xs: layout(_first(TORCH[a["inner"]](a, *xs))))


def view_family():
    fam = Family("view", 505)
    x34 = lambda: fl(fam.randn(3, 4))  # noqa: E731
    for k, shape in enumerate([[4, 3], [2, -1], [12], [1, 3, 1, 4], [-1]]):
        fam.case("view_%d" % k, "view", [x34()], {"shape": shape})
    fam.case("view_split_strided_dim", "view", [fl(fam.randn(4, 6), view=[["t"]])], {"shape": [3, 2, 4]},
             note="splitting a dim of a transposed tensor is a view")
    fam.case("view_incompatible", "view", [fl(fam.randn(4, 6), view=[["t"]])], {"shape": [24]}, raises=True,
             note="flattening a transposed tensor needs a copy: view refuses")
    fam.case("view_bad_numel", "view", [x34()], {"shape": [5, 3]}, raises=True)
    fam.case("view_0d", "view", [fl(torch.tensor(1.5))], {"shape": [1, 1]})
    fam.case("view_empty", "view", [fl(torch.zeros(0, 4))], {"shape": [2, 0, 2]})
    fam.case("reshape_copy", "reshape", [fl(fam.randn(4, 6), view=[["t"]])], {"shape": [24]},
             note="reshape copies where view cannot")
    fam.case("reshape", "reshape", [x34()], {"shape": [2, 3, 2]})
    fam.case("reshape_int64", "reshape", [fx(torch.arange(6))], {"shape": [3, -1]})
    fam.case("view_as", "view_as", [x34(), fx(torch.zeros(6, 2))])
    for k, (dim, start, length) in enumerate([(0, 1, 2), (1, 0, 4), (1, 3, 1), (-1, 1, 2), (1, -2, 2), (0, 3, 0)]):
        fam.case("narrow_%d" % k, "narrow", [x34()], {"dim": dim, "start": start, "length": length})
    fam.case("narrow_strided", "narrow", [fl(fam.randn(4, 6), view=[["t"]])], {"dim": 0, "start": 2, "length": 3})
    fam.case("narrow_out_of_range", "narrow", [x34()], {"dim": 1, "start": 3, "length": 2}, raises=True)
    for k, (dim, index) in enumerate([(0, 0), (0, 2), (1, 3), (-1, 1), (1, -1)]):
        fam.case("select_%d" % k, "select", [x34()], {"dim": dim, "index": index})
    fam.case("select_out_of_range", "select", [x34()], {"dim": 0, "index": 3}, raises=True)
    fam.case("index_number", "index_number", [x34()], {"index": 2}, note="x[i] selects along the first dim")
    fam.case("index_number_neg", "index_number", [x34()], {"index": -1})
    fam.case("transpose", "transpose", [fl(fam.randn(2, 3, 4))], {"dim0": 0, "dim1": 2})
    fam.case("transpose_neg", "transpose", [fl(fam.randn(2, 3, 4))], {"dim0": -1, "dim1": 1})
    fam.case("transpose_same", "transpose", [x34()], {"dim0": 1, "dim1": 1})
    fam.case("t", "t", [x34()])
    fam.case("t_1d", "t", [fl(fam.randn(3))], note="t() of a 1-D tensor is the tensor")
    fam.case("t_3d", "t", [fl(fam.randn(2, 2, 2))], raises=True)
    fam.case("permute", "permute", [fl(fam.randn(2, 3, 4))], {"dims": [2, 0, 1]})
    fam.case("permute_neg", "permute_list", [fl(fam.randn(2, 3, 4))], {"dims": [-1, 0, -2]})
    fam.case("permute_repeated", "permute", [fl(fam.randn(2, 3, 4))], {"dims": [0, 0, 1]}, raises=True)
    fam.case("squeeze", "squeeze", [fl(fam.randn(1, 3, 1, 2))])
    fam.case("squeeze_dim", "squeeze", [fl(fam.randn(1, 3, 1, 2))], {"dim": 2})
    fam.case("squeeze_dim_not_1", "squeeze", [fl(fam.randn(1, 3, 1, 2))], {"dim": 1},
             note="squeezing a dim that is not 1 leaves the tensor as it is")
    fam.case("squeeze_neg", "squeeze", [fl(fam.randn(3, 1))], {"dim": -1})
    fam.case("squeeze_0d", "squeeze", [fl(torch.tensor(2.0))])
    for k, d in enumerate([0, 1, 2, -1, -3]):
        fam.case("unsqueeze_%d" % k, "unsqueeze", [x34()], {"dim": d})
    fam.case("expand", "expand", [fl(fam.randn(3, 1))], {"shape": [3, 4]})
    fam.case("expand_new_dims", "expand", [fl(fam.randn(3, 1))], {"shape": [2, 3, 5]})
    fam.case("expand_minus1", "expand", [fl(fam.randn(3, 1))], {"shape": [-1, 2]})
    fam.case("expand_bad", "expand", [fl(fam.randn(3, 2))], {"shape": [3, 4]}, raises=True)
    fam.case("expand_minus1_new_dim", "expand", [fl(fam.randn(3, 1))], {"shape": [-1, 3, 4]}, raises=True,
             note="-1 (keep the size) cannot stand for a new leading dim")
    fam.case("expand_as", "expand_as", [fl(fam.randn(1, 4)), fx(torch.zeros(3, 4))])
    for k, (s_, e) in enumerate([(0, -1), (1, -1), (0, 1), (1, 2), (-2, -1), (2, 2)]):
        fam.case("flatten_%d" % k, "flatten", [fl(fam.randn(2, 3, 2, 2))], {"start_dim": s_, "end_dim": e})
    fam.case("flatten_0d", "flatten", [fl(torch.tensor(3.0))], note="a 0-d tensor flattens to [1]")
    fam.case("flatten_strided", "flatten", [fl(fam.randn(4, 6), view=[["t"]])])
    fam.case("contiguous", "contiguous", [fl(fam.randn(4, 6), view=[["t"]])])
    fam.case("contiguous_already", "contiguous", [x34()])
    fam.case("contiguous_channels_last", "contiguous", [fl(fam.randn(2, 3, 2, 2))], {"memory_format": "channels_last"})
    fam.case("to_channels_last", "to_channels_last", [fl(fam.randn(2, 3, 2, 2))])
    fam.case("to_channels_last_c1", "to_channels_last", [fl(fam.randn(2, 1, 2, 2))],
             note="a tensor with C = 1 is both layouts; PyTorch gives it channels-last strides")
    fam.case("clone", "clone", [fl(fam.randn(4, 6), view=[["t"]])], note="clone keeps a dense layout's strides")
    # the memory format a result takes from its inputs (the strides are compared)
    cl = [["channels_last"]]
    for inner, ins, a in [
            ("abs", [fl(fam.randn(2, 3, 4, 5), view=cl)], {}),
            ("add", [fl(fam.randn(2, 3, 4, 5), view=cl), fl(fam.randn(2, 3, 4, 5), view=cl)], {}),
            ("add", [fl(fam.randn(2, 3, 4, 5), view=cl), fl(fam.randn(2, 3, 4, 5))], {}),
            ("mul", [fl(fam.randn(2, 3, 4, 5), view=cl), fl(fam.randn(3, 1, 1))], {}),
            ("add", [fl(fam.randn(2, 3, 4, 5), view=cl)], {"other": 1.5}),
            ("F.relu", [fl(fam.randn(2, 3, 4, 5), view=cl)], {}),
            ("gelu", [fl(fam.randn(2, 3, 4, 5), view=cl)], {}),
            ("conv2d", [fl(fam.randn(2, 3, 5, 5), view=cl), fl(fam.randn(4, 3, 3, 3))], {"padding": 1}),
            ("batch_norm", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"training": True, "parts": []}),
            ("max_pool2d", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"kernel_size": 2}),
            ("avg_pool2d", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"kernel_size": 2}),
            ("adaptive_avg_pool2d", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"output_size": 2}),
            ("softmax", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"dim": 1}),
            ("to_dtype", [fl(fam.randn(2, 3, 4, 4), view=cl)], {"dtype": "float64"}),
            ("abs", [fl(fam.randn(4, 3), view=[["t"]])], {}),
            ("add", [fl(fam.randn(4, 3), view=[["t"]]), fl(fam.randn(4, 3), view=[["t"]])], {}),
            ("exp", [fl(fam.randn(2, 3, 4), view=[["permute", [2, 0, 1]]])], {})]:
        fam.case("layout_%s_%s" % (inner.replace(".", "_"), "_".join(
                     "cl" if i.view == cl else ("t" if i.view else "c") for i in ins)),
                 "layout_of", ins, dict(a, inner=inner),
                 note="a dense non-contiguous input's layout carries over to the result, as in PyTorch")
    fam.case("clone_channels_last", "clone", [fl(fam.randn(2, 3, 2, 2), view=[["channels_last"]])])
    # conversions
    vals = t([1.5, -1.5, 2.7, -2.7, 0.0, 100.25, 1e-8])
    for dt in ("float32", "float64", "int64", "int32", "uint8", "bool", "float16", "bfloat16"):
        fam.case("to_" + dt, "to_dtype", [fl(vals.abs() if dt == "uint8" else vals)], {"dtype": dt},
                 note="floats to integers truncate toward zero; to bool: nonzero is true")
        fam.case("to_%s_from_int64" % dt, "to_dtype", [fx(t([0, 1, -3, 255, 7]).abs() if dt == "uint8"
                                                             else t([0, 1, -3, 255, 7]))], {"dtype": dt})
        fam.case("to_%s_from_bool" % dt, "to_dtype", [fx(t([True, False]))], {"dtype": dt})
    fam.case("to_half_rounding", "half", [fl(t([1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, 65504.0, 65520.0, 1e-8]))],
             note="round to nearest even; past 65504 is inf")
    fam.case("to_bfloat16_rounding", "bfloat16", [fl(t([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 3e38, -1e-40]))],
             note="round to nearest even")
    for n in ("float", "double", "long", "int", "byte", "bool", "half", "bfloat16"):
        fam.case(n, n, [fl(t([[1.25, -0.5], [3.0, 0.0]]).abs() if n == "byte" else t([[1.25, -0.5], [3.0, 0.0]]))])
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6).abs(), view=[["t"], ["step", 0, 2]])])
    fam.case("to_other", "to_other", [fl(fam.randn(3)), fx(torch.zeros(1, dtype=torch.float64))])
    fam.case("type_as", "type_as", [fl(fam.randn(3)), fx(idx([1]))])
    fam.case("type_as_float", "type_as", [fx(idx([1, 2])), fx(torch.zeros(1, dtype=torch.float64))])
    fam.case("cpu", "cpu", [fl(fam.randn(3))], cpu_only=True)
    # queries: Lua values
    views = [[], [["t"]], [["step", 0, 2]], [["narrow", 1, 1, 2]], [["expand", [2, 4, 6]]], [["select", 0, 1]],
             [["permute", [1, 0]], ["unsqueeze", 1]]]
    for k, v in enumerate(views):
        fam.case("shape_%d" % k, "shape", [fl(fam.randn(4, 6), view=v)])
        fam.case("stride_%d" % k, "stride", [fl(fam.randn(4, 6), view=v)])
        fam.case("storage_offset_%d" % k, "storage_offset", [fl(fam.randn(4, 6), view=v)])
        fam.case("is_contiguous_%d" % k, "is_contiguous", [fl(fam.randn(4, 6), view=v)])
    fam.case("size", "size", [x34()])
    fam.case("size_dim", "size", [x34()], {"dim": 1})
    fam.case("size_neg", "size", [x34()], {"dim": -2})
    fam.case("stride_dim", "stride", [fl(fam.randn(4, 6), view=[["t"]])], {"dim": 0})
    fam.case("stride_channels_last", "stride", [fl(fam.randn(2, 3, 4, 5), view=[["channels_last"]])])
    fam.case("is_contiguous_channels_last", "is_contiguous", [fl(fam.randn(2, 3, 4, 5), view=[["channels_last"]])],
             {"memory_format": "channels_last"})
    fam.case("is_contiguous_channels_last_plain", "is_contiguous", [fl(fam.randn(2, 3, 4, 5))],
             {"memory_format": "channels_last"})
    fam.case("is_contiguous_cl_not_plain", "is_contiguous", [fl(fam.randn(2, 3, 4, 5), view=[["channels_last"]])])
    for dt in (torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool):
        v = fx(torch.zeros(2, 3, dtype=dt))
        nm = str(dt)[6:]
        fam.case("dtype_" + nm, "dtype", [v])
        fam.case("element_size_" + nm, "element_size", [v])
        fam.case("is_floating_point_" + nm, "is_floating_point", [v])
    fam.case("dim", "dim", [fl(fam.randn(2, 3, 4))])
    fam.case("dim_0d", "dim", [fl(torch.tensor(1.0))])
    fam.case("numel", "numel", [fl(fam.randn(2, 3, 4))])
    fam.case("numel_empty", "numel", [fl(torch.zeros(3, 0))])
    fam.case("device", "device", [fl(fam.randn(2))], cpu_only=True)
    fam.case("item_float", "item", [fl(torch.tensor([[2.5]]))], note="a one-element tensor of any shape")
    fam.case("item_int", "item", [fx(t([7]))])
    fam.case("item_bool", "item", [fx(torch.tensor(True))])
    fam.case("item_many", "item", [fl(fam.randn(2))], raises=True)
    fam.case("tolist", "tolist", [fl(t([[1.5, 2.0], [3.0, -1.0]]))])
    fam.case("tolist_int", "tolist", [fx(t([[1, 2, 3]]))])
    fam.case("tolist_bool_strided", "tolist", [fx(t([[True, False], [False, False]]), view=[["t"]])])
    fam.case("tolist_0d", "tolist", [fx(torch.tensor(4))])
    fam.case("len", "len", [x34()], note="#x is the size of the first dim")
    fam.case("is_tensor", "is_tensor", [x34()], {"number": 2.5})
    fam.case("shares_storage", "shares_storage", [x34()],
             note="views share the storage, clones do not (PyTorch: the storages' data pointers)")
    return fam


# ======================================================================================
# creation and random state
# ======================================================================================
def _dt(a):
    return {"dtype": getattr(torch, a["dtype"])} if "dtype" in a else {}


def meta(y):
    """shape and dtype: what a tensor of unspecified (or random) values promises"""
    return list(y.shape), DTYPE_NAMES[y.dtype]


DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
               torch.uint8: "uint8", torch.bool: "bool", torch.float16: "float16", torch.bfloat16: "bfloat16"}

op("tensor")(lambda a: torch.tensor(a["data"], **_dt(a)))
op("zeros", "zeros_table")(lambda a: torch.zeros(a["shape"], **_dt(a)))
op("ones", "ones_table")(lambda a: torch.ones(a["shape"], **_dt(a)))
op("empty")(lambda a: meta(torch.empty(a["shape"], **_dt(a))))
op("full")(lambda a: torch.full(a["shape"], a["value"], **_dt(a)))
op("arange")(lambda a: torch.arange(*a["range"], **_dt(a)))
op("linspace")(lambda a: torch.linspace(a["start"], a["end"], a["steps"], **_dt(a)))
op("eye")(lambda a: torch.eye(*a["n"], **_dt(a)))
op("zeros_like")(lambda a, x: torch.zeros_like(x, **_dt(a)))
op("ones_like")(lambda a, x: torch.ones_like(x, **_dt(a)))
op("full_like")(lambda a, x: torch.full_like(x, a["value"], **_dt(a)))
op("empty_like")(lambda a, x: meta(torch.empty_like(x, **_dt(a))))


@op("rand", "rand_like")
def _rand(a, *xs):
    y = torch.rand_like(xs[0], **_dt(a)) if xs else torch.rand(a["shape"], **_dt(a))
    return meta(y) + (bool(((y >= 0) & (y < 1)).all()),)


@op("randn", "randn_like")
def _randn(a, *xs):
    y = torch.randn_like(xs[0], **_dt(a)) if xs else torch.randn(a["shape"], **_dt(a))
    return meta(y) + (bool(y.isfinite().all()), y.numel() < 2 or bool(y.std() > 0.5))


@op("randint")
def _randint(a):
    y = torch.randint(a["low"], a["high"], a["shape"])
    return meta(y) + (bool(((y >= a["low"]) & (y < a["high"])).all()),)


@op("randperm")
def _randperm(a):
    y = torch.randperm(a["n"])
    return meta(y) + (bool(torch.equal(y.sort().values, torch.arange(a["n"]))),)


@op("manual_seed")
def _manual_seed(a):
    torch.manual_seed(a["seed"])
    u = torch.rand(5)
    torch.manual_seed(a["seed"])
    return bool(torch.equal(u, torch.rand(5)))


@op("rng_state")
def _rng_state(a):
    s = torch.get_rng_state()
    u = torch.randn(5)
    torch.set_rng_state(s)
    return bool(torch.equal(u, torch.randn(5)))


@op("default_dtype")
def _default_dtype(a):
    torch.set_default_dtype(getattr(torch, a["dtype"]))
    try:
        return (str(torch.get_default_dtype())[6:], DTYPE_NAMES[torch.tensor([1.5]).dtype],
                DTYPE_NAMES[torch.zeros(2).dtype], DTYPE_NAMES[torch.arange(0.5, 2).dtype],
                DTYPE_NAMES[torch.tensor([1, 2]).dtype], DTYPE_NAMES[(torch.tensor([1, 2]) / 2).dtype])
    finally:
        torch.set_default_dtype(torch.float32)


@op("num_threads")
def _num_threads(a):
    n = torch.get_num_threads()
    torch.set_num_threads(a["n"])
    try:
        return torch.get_num_threads()
    finally:
        torch.set_num_threads(n)


def create_family():
    fam = Family("create", 606)
    for k, (data, dt) in enumerate([([[1, 2], [3, 4]], None), ([1.5, 2.0], None), ([True, False], None),
                                    ([1, 2.5], None), ([], None), (3, None), (2.5, None), ([[1, 2]], "float64"),
                                    ([1.7, -1.7], "int64"), ([0, 1, 2], "bool"), ([300, -1], "int32"),
                                    ([[[1.0]], [[2.0]]], "float32")]):
        a = {"data": data}
        if dt:
            a["dtype"] = dt
        fam.case("tensor_%d" % k, "tensor", [], a,
                 note="Lua integers give int64, floats the default dtype, booleans bool (PyTorch's inference)")
    fam.case("tensor_ragged", "tensor", [], {"data": [[1, 2], [3]]}, raises=True)
    for n in ("zeros", "ones", "zeros_table", "ones_table"):
        fam.case(n, n, [], {"shape": [2, 3]})
        fam.case(n + "_int64", n, [], {"shape": [3], "dtype": "int64"})
        fam.case(n + "_empty", n, [], {"shape": [0, 2]})
        fam.case(n + "_0d", n, [], {"shape": []})
    fam.case("zeros_bool", "zeros", [], {"shape": [2], "dtype": "bool"})
    fam.case("ones_float64", "ones", [], {"shape": [2, 1], "dtype": "float64"})
    fam.case("empty", "empty", [], {"shape": [2, 3]})
    fam.case("empty_int32", "empty", [], {"shape": [4], "dtype": "int32"})
    for k, (v, dt) in enumerate([(2.5, None), (3, None), (True, None), (1.5, "float64"), (7, "int32"),
                                 (-2.5, "int64")]):
        a = {"shape": [2, 2], "value": v}
        if dt:
            a["dtype"] = dt
        fam.case("full_%d" % k, "full", [], a, note="an integer fill gives int64, a boolean bool")
    for k, (rng, dt) in enumerate([((5,), None), ((1, 7), None), ((0.5, 3), None), ((10, 0, -3), None),
                                   ((0, 1, 0.25), None), ((-1.5, 1.5, 0.5), "float64"), ((0, 5), "float32"),
                                   ((0, 2.5), "int64"), ((0, 0), None), ((1, 2, 0.3), None)]):
        a = {"range": list(rng)}
        if dt:
            a["dtype"] = dt
        fam.case("arange_%d" % k, "arange", [], a,
                 note="the end is excluded; integer arguments give int64, any float the default dtype")
    fam.case("arange_zero_step", "arange", [], {"range": [0, 5, 0]}, raises=True)
    fam.case("arange_wrong_sign", "arange", [], {"range": [0, 5, -1]}, raises=True)
    for k, (a0, b0, n, dt) in enumerate([(0, 1, 5, None), (-2.5, 2.5, 4, None), (1, 1, 3, None), (0, 10, 1, None),
                                         (0, 1, 0, None), (0, 1, 7, "float64"), (3, -3, 6, None)]):
        a = {"start": a0, "end": b0, "steps": n}
        if dt:
            a["dtype"] = dt
        fam.case("linspace_%d" % k, "linspace", [], a)
    for k, (n, dt) in enumerate([([3], None), ([2, 4], None), ([4, 2], "float64"), ([0], None), ([3], "int64")]):
        a = {"n": n}
        if dt:
            a["dtype"] = dt
        fam.case("eye_%d" % k, "eye", [], a)
    for n in ("zeros_like", "ones_like"):
        fam.case(n, n, [fl(fam.randn(2, 3), grad=False)])
        fam.case(n + "_int64", n, [fx(idx([1, 2]))])
        fam.case(n + "_dtype", n, [fx(idx([1, 2]))], {"dtype": "float64"})
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"]], grad=False)])
    fam.case("full_like", "full_like", [fl(fam.randn(2, 3), grad=False)], {"value": 1.5})
    fam.case("full_like_int", "full_like", [fx(idx([1, 2]))], {"value": 2.7},
             note="the fill value is converted to the tensor's dtype")
    fam.case("full_like_dtype", "full_like", [fx(idx([1, 2]))], {"value": 2.5, "dtype": "float32"})
    fam.case("empty_like", "empty_like", [fx(idx([[1, 2]]))])
    fam.case("empty_like_dtype", "empty_like", [fx(idx([[1, 2]]))], {"dtype": "bool"})
    # random tensors: PyTorch's generator is not luatrain's, so these check the
    # shape, the dtype and the range of the values
    note = "random values: shape, dtype and range are checked (the generators differ)"
    fam.case("rand", "rand", [], {"shape": [3, 4]}, note=note)
    fam.case("rand_float64", "rand", [], {"shape": [5], "dtype": "float64"}, note=note)
    fam.case("rand_like", "rand_like", [fl(fam.randn(2, 3), grad=False)], note=note)
    fam.case("randn", "randn", [], {"shape": [64]}, note=note)
    fam.case("randn_float64", "randn", [], {"shape": [2, 32], "dtype": "float64"}, note=note)
    fam.case("randn_like", "randn_like", [fx(fam.randn(4, 8).double())], note=note)
    fam.case("randint", "randint", [], {"low": -3, "high": 4, "shape": [50]}, note=note)
    fam.case("randint_empty", "randint", [], {"low": 0, "high": 2, "shape": [0]}, note=note)
    fam.case("randperm", "randperm", [], {"n": 10}, note=note + "; a permutation of 1..n in luatrain")
    fam.case("randperm_0", "randperm", [], {"n": 0}, note=note)
    fam.case("manual_seed", "manual_seed", [], {"seed": 1234}, note="the same seed gives the same numbers")
    fam.case("rng_state", "rng_state", [], {}, note="restoring the saved state replays the numbers")
    fam.case("default_dtype_float64", "default_dtype", [], {"dtype": "float64"},
             note="what the default dtype decides (float literals, zeros, arange with floats, true division)")
    fam.case("default_dtype_float32", "default_dtype", [], {"dtype": "float32"})
    fam.case("num_threads", "num_threads", [], {"n": 1})
    return fam


# ======================================================================================
# where, masked_fill, fill_, zero_, copy_
# ======================================================================================
@op("where", "lt_where")
def _where(a, c, *xs):
    x = xs[0] if len(xs) > 0 and "x" not in a else a.get("x")
    y = xs[-1] if len(xs) > 0 and "y" not in a else a.get("y")
    return torch.where(c, x, y)


op("where_method")(lambda a, x, c, y: x.where(c, y))
op("masked_fill", "lt_masked_fill")(lambda a, x, m: x.masked_fill(m, a["value"]))
op("masked_fill_")(lambda a, x, m: x.masked_fill_(m, a["value"]))
op("fill_", "lt_fill_")(lambda a, x: x.fill_(a["value"]))
op("zero_")(lambda a, x: x.zero_())
op("copy_", "lt_copy_")(lambda a, x, src: x.copy_(src))


def where_family():
    fam = Family("where", 707)
    cond = fam.randint(0, 2, 3, 4).bool()
    fam.case("where", "where", [fx(cond), fl(fam.randn(3, 4)), fl(fam.randn(3, 4))])
    fam.case("where_broadcast", "where", [fx(fam.randint(0, 2, 3, 1).bool()), fl(fam.randn(1, 4)),
                                          fl(fam.randn(2, 1, 1))], note="three-way broadcasting")
    fam.case("where_scalar_x", "lt_where", [fx(cond), fl(fam.randn(3, 4))], {"x": 2.5})
    fam.case("where_scalar_y", "where", [fx(cond), fl(fam.randn(3, 4))], {"y": 0})
    fam.case("where_scalars", "where", [fx(cond)], {"x": 1, "y": 2.5}, note="two numbers: the default dtype")
    fam.case("where_int_scalars", "where", [fx(cond)], {"x": 1, "y": 2})
    fam.case("where_strided", "where", [fx(fam.randint(0, 2, 6, 4).bool(), view=[["t"]]),
                                        fl(fam.randn(4, 6), view=[["step", 1, 1]]),
                                        fl(fam.randn(1, 6), view=[["expand", [4, 6]]])])
    fam.case("where_mixed", "where", [fx(cond), fx(fam.randint(0, 5, 3, 4)), fx(fam.randn(3, 4))],
             note="int64 with float32 is float32")
    fam.case("where_mixed_float", "where", [fx(cond), fx(fam.randn(3, 4)), fx(fam.randn(3, 4).double())])
    fam.case("where_nan", "where", [fx(t([True, False])), fl(t([float("nan"), 1.0])), fl(t([2.0, float("nan")]))],
             note="the unselected NaN gets no gradient and does not leak")
    fam.case("where_uint8_cond", "where", [fx(t([1, 0], torch.uint8)), fl(fam.randn(2)), fl(fam.randn(2))],
             raises="auto", note="PyTorch 1.13 still takes a uint8 condition (with a deprecation warning)")
    fam.case("where_float_cond", "where", [fx(t([1.0, 0.0])), fl(fam.randn(2)), fl(fam.randn(2))], raises="auto")
    fam.case("where_empty", "where", [fx(torch.zeros(0, 2, dtype=torch.bool)), fl(torch.zeros(0, 2)),
                                      fl(fam.randn(2))])
    fam.case("where_shape_mismatch", "where", [fx(t([True, False, True])), fl(fam.randn(2)), fl(fam.randn(2))],
             raises=True)
    fam.case("where_method", "where_method", [fl(fam.randn(3, 4)), fx(cond), fl(fam.randn(3, 4))],
             note="PyTorch's x.where(condition, y) is torch.where(condition, x, y)")
    mask = fam.randint(0, 2, 3, 4).bool()
    fam.case("masked_fill", "masked_fill", [fl(fam.randn(3, 4)), fx(mask)], {"value": -1.5},
             note="the filled positions get no gradient")
    fam.case("masked_fill_broadcast", "masked_fill", [fl(fam.randn(3, 4)), fx(fam.randint(0, 2, 4).bool())],
             {"value": 0.0})
    fam.case("masked_fill_int_value", "masked_fill", [fl(fam.randn(3, 4)), fx(mask)], {"value": 2})
    fam.case("masked_fill_int_tensor", "masked_fill", [fx(fam.randint(0, 9, 3, 4)), fx(mask)], {"value": 7})
    fam.case("masked_fill_int_tensor_float_value", "masked_fill", [fx(fam.randint(0, 9, 3, 4)), fx(mask)],
             {"value": 2.5}, note="the value is converted to the tensor's dtype (2.5 -> 2)")
    fam.case("masked_fill_inf", "masked_fill", [fl(fam.randn(3, 4)), fx(mask)], {"value": float("-inf")})
    fam.case("masked_fill_strided", "masked_fill", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]]),
                                                    fx(fam.randint(0, 2, 3, 4).bool())], {"value": 9.0})
    fam.case("masked_fill_uint8_mask", "masked_fill", [fl(fam.randn(2)), fx(t([1, 0], torch.uint8))],
             {"value": 1.0}, note="PyTorch 1.13 still takes a uint8 mask (with a deprecation warning)")
    fam.case("masked_fill_bad_broadcast", "masked_fill", [fl(fam.randn(3, 4)), fx(fam.randint(0, 2, 5).bool())],
             {"value": 1.0}, raises=True)
    fam.case("lt_masked_fill", "lt_masked_fill", [fl(fam.randn(3, 4)), fx(mask)], {"value": 3.0})
    fam.case("masked_fill_", "masked_fill_", [fl(fam.randn(3, 4), view=[["clone"]]), fx(mask)], {"value": -2.0})
    fam.case("masked_fill__broadcast_self", "masked_fill_", [fl(fam.randn(4), view=[["clone"]]), fx(mask)],
             {"value": 1.0}, raises=True, note="in place, the mask cannot grow self")
    fam.case("fill_", "fill_", [fl(fam.randn(3, 4), view=[["clone"]])], {"value": 1.25},
             note="the gradient through a filled tensor is 0")
    fam.case("fill__int", "fill_", [fx(idx([1, 2, 3]), view=[["clone"]])], {"value": 2.7},
             note="the value is converted to the tensor's dtype")
    fam.case("fill__strided", "fill_", [fl(fam.randn(4, 6), view=[["clone"], ["t"], ["step", 0, 2]], grad=False)],
             {"value": -1.0})
    fam.case("lt_fill_", "lt_fill_", [fx(t([True, False]), view=[["clone"]])], {"value": True})
    fam.case("zero_", "zero_", [fl(fam.randn(3, 4), view=[["clone"]])])
    fam.case("zero__int", "zero_", [fx(idx([1, 2]), view=[["clone"]])])
    fam.case("copy_", "copy_", [fl(fam.randn(3, 4), view=[["clone"]]), fl(fam.randn(3, 4))],
             note="the source gets the gradient, the overwritten tensor none")
    fam.case("copy__broadcast", "copy_", [fl(fam.randn(3, 4), view=[["clone"]]), fl(fam.randn(4))])
    fam.case("copy__dtype", "copy_", [fx(fam.randn(3), view=[["clone"]]), fx(fam.randn(3).double())],
             note="copy_ converts to self's dtype; the gradient converts back")
    fam.case("copy__float_to_int", "copy_", [fx(idx([0, 0, 0]), view=[["clone"]]), fx(t([1.7, -1.7, 2.5]))],
             note="floats truncate toward zero")
    fam.case("copy__strided", "copy_", [fl(fam.randn(4, 6), view=[["clone"], ["t"]], grad=False),
                                        fl(fam.randn(6, 4))])
    fam.case("lt_copy_", "lt_copy_", [fl(fam.randn(2), view=[["clone"]]), fl(fam.randn(2))])
    fam.case("copy__bad_shape", "copy_", [fl(fam.randn(3), view=[["clone"]]), fl(fam.randn(2))], raises=True)
    return fam


# ======================================================================================
# matrix products
# ======================================================================================
op("matmul", "lt_matmul")(lambda a, x, y: torch.matmul(x, y))
op("mm", "lt_mm")(lambda a, x, y: torch.mm(x, y))
op("bmm", "lt_bmm")(lambda a, x, y: torch.bmm(x, y))


def matmul_family():
    fam = Family("matmul", 808)
    shapes = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)),
              ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4, 5)),
              ((3, 4), (2, 4, 5)), ((1, 1), (1, 1))]
    for k, (sa, sb) in enumerate(shapes):
        fam.case("matmul_%d" % k, "matmul", [fl(fam.randn(*sa)), fl(fam.randn(*sb))], products=True,
                 note="shapes %s @ %s (1-D operands and broadcast batches as PyTorch)" % (list(sa), list(sb)))
    fam.case("matmul_transposed", "matmul", [fl(fam.randn(4, 3), view=[["t"]]), fl(fam.randn(2, 4), view=[["t"]])],
             products=True, note="both operands transposed views")
    fam.case("matmul_stepped", "matmul", [fl(fam.randn(6, 4), view=[["step", 0, 2]]),
                                          fl(fam.randn(4, 6), view=[["step", 1, 3]])], products=True)
    fam.case("matmul_expanded", "matmul", [fl(fam.randn(1, 3, 4), view=[["expand", [2, 3, 4]]]),
                                           fl(fam.randn(2, 4, 2))], products=True)
    fam.case("matmul_batch_transposed", "matmul", [fl(fam.randn(2, 4, 3), view=[["transpose", 1, 2]]),
                                                   fl(fam.randn(4, 2, 5), view=[["transpose", 0, 1]])], products=True)
    fam.case("matmul_long_k", "matmul", [fl(fam.randn(8, 512)), fl(fam.randn(512, 8))], products=True)
    fam.case("matmul_k0", "matmul", [fl(torch.zeros(3, 0)), fl(torch.zeros(0, 2))], products=True,
             note="an empty inner dim gives zeros")
    fam.case("matmul_empty_batch", "matmul", [fl(torch.zeros(0, 2, 3)), fl(fam.randn(3, 2))], products=True)
    fam.case("matmul_int64", "matmul", [fx(fam.randint(-3, 4, 2, 3)), fx(fam.randint(-3, 4, 3, 2))], raises="auto")
    fam.case("matmul_shape_mismatch", "matmul", [fl(fam.randn(3, 4)), fl(fam.randn(3, 4))], raises=True)
    fam.case("matmul_0d", "matmul", [fl(torch.tensor(2.0)), fl(fam.randn(3))], raises=True)
    fam.case("regress_matmul_mixed_raises", "matmul", [fx(fam.randn(2, 3)), fx(fam.randn(3, 2).double())],
             raises=True, note="PyTorch refuses float32 @ float64 rather than promoting")
    fam.case("regress_mm_mixed_raises", "mm", [fx(fam.randn(2, 3)), fx(fam.randn(3, 2).double())], raises=True)
    fam.case("matmul_float64", "matmul", [fx(fam.randn(2, 3).double()), fx(fam.randn(3, 2).double())])
    fam.case("lt_matmul", "lt_matmul", [fl(fam.randn(3, 4)), fl(fam.randn(4, 2))], products=True)
    fam.case("mm", "mm", [fl(fam.randn(3, 4)), fl(fam.randn(4, 5))], products=True)
    fam.case("mm_transposed", "mm", [fl(fam.randn(4, 3), view=[["t"]]), fl(fam.randn(4, 5))], products=True)
    fam.case("lt_mm", "lt_mm", [fl(fam.randn(2, 4)), fl(fam.randn(4, 2))], products=True)
    fam.case("mm_3d", "mm", [fl(fam.randn(2, 3, 4)), fl(fam.randn(4, 5))], raises=True, note="mm takes 2-D only")
    fam.case("mm_1d", "mm", [fl(fam.randn(4)), fl(fam.randn(4, 5))], raises=True)
    fam.case("mm_mismatch", "mm", [fl(fam.randn(3, 4)), fl(fam.randn(3, 4))], raises=True)
    fam.case("bmm", "bmm", [fl(fam.randn(2, 3, 4)), fl(fam.randn(2, 4, 5))], products=True)
    fam.case("bmm_transposed", "bmm", [fl(fam.randn(2, 4, 3), view=[["transpose", 1, 2]]), fl(fam.randn(2, 4, 5))],
             products=True)
    fam.case("lt_bmm", "lt_bmm", [fl(fam.randn(3, 2, 2)), fl(fam.randn(3, 2, 1))], products=True)
    fam.case("bmm_broadcast", "bmm", [fl(fam.randn(1, 3, 4)), fl(fam.randn(2, 4, 5))], raises=True,
             note="bmm does not broadcast")
    fam.case("bmm_2d", "bmm", [fl(fam.randn(3, 4)), fl(fam.randn(4, 5))], raises=True)
    return fam


# ======================================================================================
# neural-network functions
# ======================================================================================
def _pair(v):
    return tuple(v) if isinstance(v, list) else v


@op("conv2d")
def _conv2d(a, x, w, *b):
    return F.conv2d(x, w, b[0] if b else None, _pair(a.get("stride", 1)), _pair(a.get("padding", 0)),
                    _pair(a.get("dilation", 1)), a.get("groups", 1))


@op("batch_norm", "batch_norm_table")
def _batch_norm(a, x, *rest):
    parts = dict(zip(a["parts"], rest))
    rm, rv = parts.get("running_mean"), parts.get("running_var")
    y = F.batch_norm(x, rm, rv, parts.get("weight"), parts.get("bias"), a.get("training", False),
                     a.get("momentum", 0.1), a.get("eps", 1e-5))
    return (y,) + tuple(r for r in (rm, rv) if r is not None)


# luatrain's F.batch_norm_relu is relu(batch_norm(...)) in one op; PyTorch's reference is the two
@op("batch_norm_relu", "batch_norm_relu_table")
def _batch_norm_relu(a, x, *rest):
    y, *stats = _batch_norm(a, x, *rest)
    return (F.relu(y),) + tuple(stats)


# luatrain's F.conv2d_bn_eval is relu(batch_norm_eval(conv2d(x)) + residual) in one op for inference;
# PyTorch's reference is the separate ops
@op("conv2d_bn_eval")
def _conv2d_bn_eval(a, x, w, *rest):
    parts = dict(zip(a["parts"], rest))
    y = _conv2d(a, x, w, *([parts["bias"]] if "bias" in parts else []))
    y = F.batch_norm(y, parts["running_mean"], parts["running_var"], parts.get("bn_weight"), parts.get("bn_bias"),
                     False, 0.0, a.get("eps", 1e-5))
    if "residual" in parts:
        y = y + parts["residual"]
    return F.relu(y) if a.get("relu") else y


op("F.relu")(lambda a, x: F.relu(x, inplace=a.get("inplace", False)))
op("F.relu_")(lambda a, x: F.relu_(x))
op("leaky_relu")(lambda a, x: F.leaky_relu(x, a.get("negative_slope", 0.01), a.get("inplace", False)))
op("leaky_relu_")(lambda a, x: F.leaky_relu_(x, a.get("negative_slope", 0.01)))
op("gelu")(lambda a, x: F.gelu(x, approximate=a.get("approximate", "none")))
op("silu")(lambda a, x: F.silu(x, inplace=a.get("inplace", False)))
op("linear")(lambda a, x, w, *b: F.linear(x, w, b[0] if b else None))
op("dropout", "dropout_table")(lambda a, x: F.dropout(x, a.get("p", 0.5), a.get("training", True),
                                                      a.get("inplace", False)))
# PyTorch has no F.flatten: luatrain's is torch.flatten (start_dim 0 by default)
op("F.flatten")(lambda a, x: torch.flatten(x, a.get("start_dim", 0), a.get("end_dim", -1)))


@op("max_pool2d")
def _max_pool2d(a, x):
    r = F.max_pool2d(x, _pair(a["kernel_size"]), _pair(a.get("stride")), _pair(a.get("padding", 0)),
                     _pair(a.get("dilation", 1)), a.get("ceil_mode", False), a.get("return_indices", False))
    return tuple(r) if isinstance(r, tuple) else r


op("avg_pool2d")(lambda a, x: F.avg_pool2d(x, _pair(a["kernel_size"]), _pair(a.get("stride")),
                                           _pair(a.get("padding", 0)), a.get("ceil_mode", False),
                                           a.get("count_include_pad", True), a.get("divisor_override")))
op("adaptive_avg_pool2d")(lambda a, x: F.adaptive_avg_pool2d(x, _pair(a["output_size"])))
op("softmax", "softmax_method")(lambda a, x: F.softmax(x, a["dim"]))
op("log_softmax", "log_softmax_method")(lambda a, x: F.log_softmax(x, a["dim"]))


def nn_family():
    fam = Family("nn", 909)
    conv = [  # (x shape, w shape, bias, args)
        ((2, 3, 5, 5), (4, 3, 3, 3), True, {"padding": 1}),
        ((2, 3, 7, 6), (4, 3, 3, 3), True, {"stride": 2, "padding": 1}),
        ((1, 2, 7, 7), (3, 2, 3, 3), False, {"dilation": 2, "padding": 2}),
        ((2, 4, 5, 5), (6, 2, 3, 3), True, {"groups": 2, "padding": 1}),
        ((2, 4, 5, 5), (4, 1, 3, 3), False, {"groups": 4}),
        ((2, 3, 4, 4), (5, 3, 1, 1), True, {}),
        ((1, 2, 6, 7), (3, 2, 3, 2), True, {"stride": [2, 1], "padding": [1, 0]}),
        ((2, 2, 5, 6), (3, 2, 3, 5), True, {"padding": "same"}),
        ((1, 2, 7, 7), (2, 2, 3, 3), False, {"padding": "same", "dilation": 2}),
        ((1, 2, 6, 6), (2, 2, 3, 3), True, {"padding": "valid"}),
        ((2, 3, 5, 5), (2, 3, 5, 5), True, {}),
        ((1, 1, 4, 4), (1, 1, 2, 2), False, {"stride": 2, "dilation": [1, 2], "padding": [0, 1]}),
    ]
    for k, (xs, ws, bias, a) in enumerate(conv):
        ins = [fl(fam.randn(*xs)), fl(fam.randn(*ws) * 0.3)] + ([fl(fam.randn(ws[0]))] if bias else [])
        fam.case("conv2d_%d" % k, "conv2d", ins, a, products=True)
    fam.case("conv2d_channels_last", "conv2d", [fl(fam.randn(2, 3, 5, 5), view=[["channels_last"]]),
                                                fl(fam.randn(4, 3, 3, 3)), fl(fam.randn(4))], {"padding": 1},
             products=True)
    fam.case("conv2d_channels_last_weight", "conv2d", [fl(fam.randn(2, 3, 5, 5), view=[["channels_last"]]),
                                                       fl(fam.randn(4, 3, 3, 3), view=[["channels_last"]])],
             {"stride": 2}, products=True)
    fam.case("conv2d_permuted", "conv2d", [fl(fam.randn(2, 5, 5, 3), view=[["permute", [0, 3, 1, 2]]]),
                                           fl(fam.randn(2, 3, 3, 3))], {"padding": 1}, products=True,
             note="an NHWC tensor permuted to NCHW without a copy")
    fam.case("conv2d_empty_batch", "conv2d", [fl(torch.zeros(0, 3, 5, 5)), fl(fam.randn(2, 3, 3, 3))], products=True)
    fam.case("conv2d_channel_mismatch", "conv2d", [fl(fam.randn(1, 3, 5, 5)), fl(fam.randn(2, 2, 3, 3))],
             raises=True)
    fam.case("conv2d_groups_mismatch", "conv2d", [fl(fam.randn(1, 4, 5, 5)), fl(fam.randn(3, 2, 3, 3))],
             {"groups": 2}, raises=True)
    fam.case("conv2d_same_strided", "conv2d", [fl(fam.randn(1, 1, 5, 5)), fl(fam.randn(1, 1, 3, 3))],
             {"padding": "same", "stride": 2}, raises=True, note="padding='same' is refused for strided convolutions")
    fam.case("regress_conv2d_same_even_kernel", "conv2d", [fl(fam.randn(1, 2, 6, 6)), fl(fam.randn(3, 2, 2, 2)),
                                                           fl(fam.randn(3))], {"padding": "same"}, products=True,
             note="an even kernel: PyTorch pads the extra row and column at the end")
    fam.case("regress_conv2d_same_even_kernel_4x3", "conv2d", [fl(fam.randn(2, 1, 7, 5)), fl(fam.randn(2, 1, 4, 3))],
             {"padding": "same"}, products=True)
    fam.case("regress_conv2d_unbatched", "conv2d", [fl(fam.randn(3, 5, 5)), fl(fam.randn(4, 3, 3, 3)),
                                                    fl(fam.randn(4))], {"padding": 1}, products=True,
             note="a [C,H,W] input is one image: the result is [C',H',W']")
    # batch norm: training (batch statistics; running statistics updated in
    # place with the unbiased variance), eval (running statistics)
    def bn_part(p, c):
        """A batch norm's [c] running statistic or affine parameter (weight or bn_weight: around 1)."""
        if p == "running_mean":
            return fl(fam.randn(c) * 0.1, grad=False)
        if p == "running_var":
            return fl(fam.rand(c) + 0.5, grad=False)
        if p in ("weight", "bn_weight"):
            return fl(fam.randn(c) * 0.5 + 1)
        return fl(fam.randn(c) * 0.5)
    def bn(name, xshape, a, parts=("running_mean", "running_var", "weight", "bias"), view=(), op_name="batch_norm",
           **kw):
        ins = [fl(fam.randn(*xshape) * 2 + 0.5, view=view)] + [bn_part(p, xshape[1]) for p in parts]
        a = dict(a, parts=list(parts))
        fam.case(name, op_name, ins, a, **kw)
    bn("batch_norm_train", (4, 3, 5, 5), {"training": True},
       note="outputs: y, then the running mean and variance after the update")
    bn("batch_norm_eval", (4, 3, 5, 5), {"training": False})
    bn("batch_norm_train_2d", (6, 4), {"training": True, "momentum": 0.3})
    bn("batch_norm_train_3d", (3, 2, 7), {"training": True, "eps": 1e-3})
    bn("batch_norm_eval_3d", (3, 2, 7), {"training": False, "eps": 1e-3})
    bn("batch_norm_train_no_stats", (4, 3, 2, 2), {"training": True}, parts=("weight", "bias"),
       note="no running statistics: batch statistics, nothing updated")
    bn("batch_norm_train_no_affine", (4, 3, 2, 2), {"training": True}, parts=("running_mean", "running_var"))
    bn("batch_norm_eval_no_affine", (4, 3, 2, 2), {"training": False}, parts=("running_mean", "running_var"))
    bn("batch_norm_channels_last", (2, 3, 4, 4), {"training": True}, view=[["channels_last"]])
    bn("batch_norm_table", (4, 3, 2, 2), {"training": True, "momentum": 0.2, "eps": 1e-4}, op_name="batch_norm_table")
    bn("batch_norm_momentum_zero", (4, 3, 2, 2), {"training": True, "momentum": 0.0})
    bn("batch_norm_one_value", (1, 3, 1, 1), {"training": True}, raises=True,
       note="training needs more than one value per channel")
    bn("batch_norm_eval_one_value", (1, 3), {"training": False})
    bn("batch_norm_large_mean", (8, 2, 4, 4), {"training": True}, parts=("weight", "bias"))
    fam.case("batch_norm_shifted", "batch_norm", [fl(fam.randn(16, 2) * 0.1 + 1e3), fl(fam.randn(2) + 1),
                                                  fl(fam.randn(2))],
             {"training": True, "parts": ["weight", "bias"]},
             note="a mean of 1e3 with a spread of 0.1: the batch variance must not cancel",
             why="float32 resolves 1e3 to 6e-5, so PyTorch's own float32 deviations carry that much error")
    # activations (kinks at 0: relu' = 0, leaky_relu' = slope, as PyTorch)
    kink = t([[-2.0, -1.0, -0.0, 0.0], [0.5, 1.0, 2.0, 3.0]])
    fam.case("F.relu", "F.relu", [fl(fam.randn(3, 4))])
    fam.case("F.relu_kink", "F.relu", [fl(kink)])
    fam.case("F.relu_inplace", "F.relu", [fl(fam.randn(3, 4), view=[["clone"]])], {"inplace": True})
    fam.case("F.relu_", "F.relu_", [fl(fam.randn(3, 4), view=[["clone"]])])
    fam.case("F.relu_strided", "F.relu", [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])])
    fam.case("F.relu_int64", "F.relu", [fx(idx([-1, 0, 3]))])
    fam.case("leaky_relu", "leaky_relu", [fl(fam.randn(3, 4))])
    fam.case("leaky_relu_kink", "leaky_relu", [fl(kink)], {"negative_slope": 0.2})
    fam.case("leaky_relu_negative_slope", "leaky_relu", [fl(fam.randn(3, 4))], {"negative_slope": -0.5})
    fam.case("leaky_relu_inplace", "leaky_relu", [fl(fam.randn(3, 4), view=[["clone"]])],
             {"negative_slope": 0.1, "inplace": True})
    fam.case("leaky_relu_", "leaky_relu_", [fl(fam.randn(3, 4), view=[["clone"]])], {"negative_slope": 0.3})
    fam.case("leaky_relu_strided", "leaky_relu", [fl(fam.randn(4, 6), view=[["t"]])])
    fam.case("gelu", "gelu", [fl(fam.randn(3, 4) * 3)])
    fam.case("gelu_tanh", "gelu", [fl(fam.randn(3, 4) * 3)], {"approximate": "tanh"})
    fam.case("gelu_large", "gelu", [fl(t([-30.0, -10.0, -5.0, 0.0, 5.0, 10.0, 30.0]))])
    fam.case("gelu_tanh_large", "gelu", [fl(t([-30.0, -10.0, -5.0, 0.0, 5.0, 10.0, 30.0]))], {"approximate": "tanh"})
    fam.case("gelu_strided", "gelu", [fl(fam.randn(4, 6), view=[["t"]])])
    fam.case("silu", "silu", [fl(fam.randn(3, 4) * 3)])
    fam.case("silu_large", "silu", [fl(t([-100.0, -20.0, 0.0, 20.0, 100.0]))])
    fam.case("silu_inplace", "silu", [fl(fam.randn(3, 4), view=[["clone"]])], {"inplace": True})
    fam.case("silu_strided", "silu", [fl(fam.randn(4, 6), view=[["step", 1, 2]])])
    # linear
    fam.case("linear", "linear", [fl(fam.randn(5, 4)), fl(fam.randn(3, 4)), fl(fam.randn(3))], products=True)
    fam.case("linear_no_bias", "linear", [fl(fam.randn(5, 4)), fl(fam.randn(3, 4))], products=True)
    fam.case("linear_1d", "linear", [fl(fam.randn(4)), fl(fam.randn(3, 4)), fl(fam.randn(3))], products=True)
    fam.case("linear_3d", "linear", [fl(fam.randn(2, 5, 4)), fl(fam.randn(3, 4)), fl(fam.randn(3))], products=True)
    fam.case("linear_transposed_weight", "linear", [fl(fam.randn(5, 4)), fl(fam.randn(4, 3), view=[["t"]]),
                                                    fl(fam.randn(3))], products=True)
    fam.case("linear_strided_input", "linear", [fl(fam.randn(4, 10), view=[["step", 1, 2], ["t"]]),
                                                fl(fam.randn(3, 4))], products=True)
    fam.case("linear_mismatch", "linear", [fl(fam.randn(5, 4)), fl(fam.randn(3, 5))], raises=True)
    # dropout: the identity cases compare values; p in (0, 1) draws a random
    # mask, so those check its property (run.lua CHECKS.dropout_mask)
    fam.case("dropout_p0", "dropout", [fl(fam.randn(3, 4))], {"p": 0.0})
    fam.case("dropout_eval", "dropout", [fl(fam.randn(3, 4))], {"p": 0.5, "training": False})
    fam.case("dropout_p1", "dropout", [fl(fam.randn(3, 4))], {"p": 1.0}, note="p = 1 gives zeros")
    fam.case("dropout_mask", "dropout", [fl(fam.randn(20, 20))], {"p": 0.3}, check="dropout_mask",
             note="each element is 0 or x/(1-p); the gradient is gy/(1-p) where kept, 0 where dropped; "
                  "the dropped fraction is near p")
    fam.case("dropout_inplace", "dropout", [fl(fam.randn(20, 20), view=[["clone"]])], {"p": 0.5, "inplace": True},
             check="dropout_mask")
    fam.case("dropout_table", "dropout_table", [fl(fam.randn(3, 4))], {"p": 0.25, "training": False})
    fam.case("dropout_bad_p", "dropout", [fl(fam.randn(3))], {"p": 1.5}, raises=True)
    # flatten
    for k, (s_, e) in enumerate([(1, -1), (0, -1), (2, 3), (-3, -2)]):
        fam.case("F.flatten_%d" % k, "F.flatten", [fl(fam.randn(2, 3, 2, 2))], {"start_dim": s_, "end_dim": e})
    fam.case("F.flatten_default", "F.flatten", [fl(fam.randn(2, 3, 2))], note="torch.flatten's default start_dim 0")
    # pooling
    mp = [((2, 3, 6, 6), {"kernel_size": 2}), ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
          ((1, 2, 7, 6), {"kernel_size": [3, 2], "stride": [2, 1]}),
          ((1, 1, 7, 7), {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
          ((1, 1, 8, 8), {"kernel_size": 3, "stride": 1, "dilation": 2}),
          ((2, 2, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}),
          ((1, 1, 6, 5), {"kernel_size": 2, "stride": [1, 2], "padding": [1, 0], "ceil_mode": True,
                          "return_indices": True})]
    for k, (xs, a) in enumerate(mp):
        fam.case("max_pool2d_%d" % k, "max_pool2d", [fl(fam.randn(*xs))], a,
                 note="indices: the position of the maximum within its H*W plane (0-based here, 1-based in luatrain)")
    fam.case("max_pool2d_negative_padded", "max_pool2d", [fl(-fam.rand(1, 1, 4, 4) - 1)],
             {"kernel_size": 3, "stride": 1, "padding": 1}, note="padding is never the maximum (-inf)")
    fam.case("max_pool2d_channels_last", "max_pool2d", [fl(fam.randn(2, 3, 6, 6), view=[["channels_last"]])],
             {"kernel_size": 2, "return_indices": True})
    fam.case("max_pool2d_ties", "max_pool2d", [fl(fam.randint(0, 2, 2, 2, 6, 6).float())],
             {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}, check="maxpool_ties",
             note="ties in a window: PyTorch does not document which maximum wins; the values must be PyTorch's, "
                  "each index must point at its window's maximum value, and the gradient must reach those indices")
    fam.case("max_pool2d_nan", "max_pool2d", [fl(t([[[[1.0, float("nan")], [3.0, 2.0]]]]))], {"kernel_size": 2,
                                                                                             "return_indices": True},
             note="NaN is the maximum of its window")
    fam.case("max_pool2d_too_small", "max_pool2d", [fl(fam.randn(1, 1, 2, 2))], {"kernel_size": 3}, raises=True)
    fam.case("regress_max_pool2d_unbatched", "max_pool2d", [fl(fam.randn(2, 5, 5))], {"kernel_size": 2},
             note="a [C,H,W] input")
    ap = [((2, 3, 6, 6), {"kernel_size": 2}), ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
          ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
          ((1, 1, 7, 7), {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
          ((1, 1, 5, 5), {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
          ((1, 2, 6, 5), {"kernel_size": [3, 2], "stride": [1, 2], "divisor_override": 5}),
          ((1, 1, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True})]
    for k, (xs, a) in enumerate(ap):
        fam.case("avg_pool2d_%d" % k, "avg_pool2d", [fl(fam.randn(*xs))], a)
    fam.case("avg_pool2d_channels_last", "avg_pool2d", [fl(fam.randn(2, 3, 6, 6), view=[["channels_last"]])],
             {"kernel_size": 2})
    fam.case("regress_avg_pool2d_unbatched", "avg_pool2d", [fl(fam.randn(2, 5, 5))], {"kernel_size": 2})
    for k, (xs, o) in enumerate([((2, 3, 6, 6), 1), ((1, 2, 6, 6), [2, 3]), ((1, 2, 5, 7), [3, 4]),
                                 ((1, 1, 3, 3), 5), ((1, 1, 4, 4), [4, 1])]):
        fam.case("adaptive_avg_pool2d_%d" % k, "adaptive_avg_pool2d", [fl(fam.randn(*xs))], {"output_size": o},
                 note="windows from floor(i*in/out) to ceil((i+1)*in/out), overlapping when sizes do not divide")
    fam.case("adaptive_avg_pool2d_channels_last", "adaptive_avg_pool2d",
             [fl(fam.randn(2, 3, 5, 5), view=[["channels_last"]])], {"output_size": 2})
    fam.case("regress_adaptive_avg_pool2d_unbatched", "adaptive_avg_pool2d", [fl(fam.randn(2, 5, 5))],
             {"output_size": [2, 3]})
    # softmax / log_softmax
    for n in ("softmax", "log_softmax"):
        fam.case(n, n, [fl(fam.randn(3, 5))], {"dim": 1})
        fam.case(n + "_dim0", n, [fl(fam.randn(3, 5))], {"dim": 0})
        fam.case(n + "_3d", n, [fl(fam.randn(2, 3, 4))], {"dim": -2})
        fam.case(n + "_large", n, [fl(t([[1e4, 1e4 + 1.0, -1e4], [-50.0, 0.0, 50.0]]))], {"dim": 1},
                 note="large logits: the maximum is subtracted first")
        fam.case(n + "_neg_inf", n, [fl(t([[float("-inf"), 0.0, 1.0], [float("-inf"), float("-inf"), 2.0]]))],
                 {"dim": 1}, note="-inf logits get probability 0")
        fam.case(n + "_all_neg_inf", n, [fl(t([[float("-inf"), float("-inf")]]))], {"dim": 1}, grad=False,
                 note="a row of -inf is NaN")
        fam.case(n + "_strided", n, [fl(fam.randn(4, 6), view=[["t"], ["step", 0, 2]])], {"dim": 1})
        fam.case(n + "_empty", n, [fl(torch.zeros(0, 3))], {"dim": 1})
        fam.case(n + "_0d", n, [fl(torch.tensor(1.5))], {"dim": 0})
        fam.case(n + "_method", n + "_method", [fl(fam.randn(3, 4))], {"dim": -1})
        fam.case(n + "_int64", n, [fx(idx([1, 2]))], {"dim": 0}, raises="auto")
    # batch norm fused with the ReLU after it (last in the family, so the cases above keep their inputs)
    def bnr(name, xshape, a, **kw):
        bn(name, xshape, a, op_name=kw.pop("op_name", "batch_norm_relu"), **kw)
    bnr("batch_norm_relu_train", (4, 3, 5, 5), {"training": True},
        note="relu(batch_norm(x)); outputs: y, then the running mean and variance after the update")
    bnr("batch_norm_relu_eval", (4, 3, 5, 5), {"training": False})
    bnr("batch_norm_relu_train_2d", (6, 4), {"training": True, "momentum": 0.3})
    bnr("batch_norm_relu_eval_3d", (3, 2, 7), {"training": False, "eps": 1e-3})
    bnr("batch_norm_relu_train_no_affine", (4, 3, 2, 2), {"training": True}, parts=("running_mean", "running_var"))
    bnr("batch_norm_relu_train_no_stats", (4, 3, 2, 2), {"training": True}, parts=("weight", "bias"))
    bnr("batch_norm_relu_channels_last", (2, 3, 4, 4), {"training": True}, view=[["channels_last"]])
    bnr("batch_norm_relu_table", (4, 3, 2, 2), {"training": True, "momentum": 0.2, "eps": 1e-4},
        op_name="batch_norm_relu_table")
    bnr("batch_norm_relu_one_value", (1, 3, 1, 1), {"training": True}, raises=True,
        note="training needs more than one value per channel")
    # the inference convolution with its batch norm, residual and ReLU (after batch_norm_relu: the cases above
    # keep their inputs)
    def cbe(name, xshape, wshape, a, parts=("running_mean", "running_var", "bn_weight", "bn_bias"), view=(),
            rshape=None, **kw):
        co = wshape[0]
        ins = [fl(fam.randn(*xshape), view=view), fl(fam.randn(*wshape) * 0.3)]
        y = _conv2d(a, torch.zeros(xshape, dtype=torch.float64), torch.zeros(wshape, dtype=torch.float64))
        for p in parts:
            ins.append(fl(fam.randn(*(rshape or y.shape)), view=view) if p == "residual" else bn_part(p, co))
        fam.case(name, "conv2d_bn_eval", ins, dict(a, parts=list(parts)), products=True, **kw)
    cbe("conv2d_bn_eval", (2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1},
        note="batch_norm(conv2d(x)) with the running statistics, as a ResNet block evaluates it")
    cbe("conv2d_bn_eval_relu", (2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1, "relu": True})
    cbe("conv2d_bn_eval_residual_relu", (2, 4, 5, 5), (4, 4, 3, 3), {"padding": 1, "relu": True, "eps": 1e-3},
        parts=("running_mean", "running_var", "bn_weight", "bn_bias", "residual"),
        note="relu(batch_norm(conv2d(x)) + residual): a BasicBlock's second convolution")
    cbe("conv2d_bn_eval_bias_strided", (2, 4, 7, 7), (6, 2, 1, 1), {"stride": 2, "groups": 2},
        parts=("bias", "running_mean", "running_var", "bn_weight", "bn_bias"))
    cbe("conv2d_bn_eval_no_affine_channels_last", (2, 3, 5, 5), (4, 3, 3, 3),
        {"padding": "same", "relu": True}, parts=("running_mean", "running_var", "residual"),
        view=[["channels_last"]])
    cbe("conv2d_bn_eval_even_same", (1, 2, 6, 6), (3, 2, 2, 2), {"padding": "same"})
    cbe("conv2d_bn_eval_residual_mismatch", (2, 3, 6, 6), (4, 3, 3, 3), {"padding": 0},
        parts=("running_mean", "running_var", "residual"), rshape=(2, 4, 6, 6), raises=True,
        note="a residual of the input's size, not the unpadded convolution's")
    return fam


# ======================================================================================
# losses
# ======================================================================================
def _loss_kw(a, ws):
    kw = {k: a[k] for k in ("reduction", "ignore_index", "label_smoothing") if k in a}
    if "weight" in a.get("parts", []):
        kw["weight"] = ws[a["parts"].index("weight")]
    return kw


op("cross_entropy")(lambda a, x, tg, *ws: F.cross_entropy(x, tg, **_loss_kw(a, ws)))
op("nll_loss")(lambda a, x, tg, *ws: F.nll_loss(x, tg, **_loss_kw(a, ws)))
op("mse_loss")(lambda a, x, y: F.mse_loss(x, y, reduction=a.get("reduction", "mean")))
op("l1_loss")(lambda a, x, y: F.l1_loss(x, y, reduction=a.get("reduction", "mean")))


@op("bce_logits")
def _bce(a, x, y, *ws):
    parts = dict(zip(a.get("parts", []), ws))
    return F.binary_cross_entropy_with_logits(x, y, weight=parts.get("weight"), reduction=a.get("reduction", "mean"),
                                              pos_weight=parts.get("pos_weight"))


def loss_family():
    fam = Family("loss", 1010)
    n, c = 6, 5
    tg = fam.randint(0, c, n)
    w = fam.rand(c) + 0.5
    for red in ("mean", "sum", "none"):
        fam.case("cross_entropy_" + red, "cross_entropy", [fl(fam.randn(n, c) * 2), fx(tg)], {"reduction": red})
        fam.case("cross_entropy_weight_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tg), fl(w, grad=False)],
                 {"reduction": red, "parts": ["weight"]},
                 note="the weighted mean divides by the sum of the targets' weights")
        fam.case("cross_entropy_ls_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tg)],
                 {"reduction": red, "label_smoothing": 0.1})
        fam.case("cross_entropy_ls_weight_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tg), fl(w, grad=False)],
                 {"reduction": red, "label_smoothing": 0.3, "parts": ["weight"]})
        tgi = tg.clone()
        tgi[1] = -100
        tgi[4] = -100
        fam.case("cross_entropy_ignore_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tgi)], {"reduction": red},
                 note="targets equal to ignore_index (default -100) add nothing and do not count in the mean")
        fam.case("cross_entropy_ignore_ls_weight_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tgi),
                                                                           fl(w, grad=False)],
                 {"reduction": red, "label_smoothing": 0.2, "parts": ["weight"]})
        tgc = tg.clone()
        tgc[0] = 2
        tgc[3] = 2
        fam.case("cross_entropy_ignore_class_" + red, "cross_entropy", [fl(fam.randn(n, c)), fx(tgc)],
                 {"reduction": red, "ignore_index": 2}, note="ignore_index names a class (2, i.e. luatrain's 3)")
        fam.case("nll_loss_" + red, "nll_loss", [fl(fam.randn(n, c)), fx(tg)], {"reduction": red})
        fam.case("nll_loss_weight_" + red, "nll_loss", [fl(fam.randn(n, c)), fx(tg), fl(w, grad=False)],
                 {"reduction": red, "parts": ["weight"]})
        fam.case("nll_loss_ignore_" + red, "nll_loss", [fl(fam.randn(n, c)), fx(tgi), fl(w, grad=False)],
                 {"reduction": red, "parts": ["weight"]})
        fam.case("nll_loss_ignore_class_" + red, "nll_loss", [fl(fam.randn(n, c)), fx(tgc)],
                 {"reduction": red, "ignore_index": 2})
        for nm in ("mse_loss", "l1_loss"):
            fam.case("%s_%s" % (nm, red), nm, [fl(fam.randn(3, 4)), fl(fam.randn(3, 4))], {"reduction": red})
        fam.case("bce_logits_" + red, "bce_logits", [fl(fam.randn(4, 3) * 3), fl(fam.rand(4, 3))], {"reduction": red})
        fam.case("bce_logits_weight_" + red, "bce_logits", [fl(fam.randn(4, 3)), fl(fam.rand(4, 3)),
                                                            fl(fam.rand(4, 3), grad=False)],
                 {"reduction": red, "parts": ["weight"]})
        fam.case("bce_logits_pos_weight_" + red, "bce_logits", [fl(fam.randn(4, 3)), fl(fam.rand(4, 3)),
                                                                fl(fam.rand(3) * 3, grad=False)],
                 {"reduction": red, "parts": ["pos_weight"]}, note="pos_weight broadcasts over the last dim")
        fam.case("cross_entropy_kdim_" + red, "cross_entropy", [fl(fam.randn(2, c, 3, 2)),
                                                                fx(fam.randint(0, c, 2, 3, 2))],
                 {"reduction": red, "label_smoothing": 0.1}, note="[N,C,H,W] logits with [N,H,W] targets")
    fam.case("cross_entropy_all_ignored", "cross_entropy", [fl(fam.randn(3, c)), fx(idx([-100, -100, -100]))],
             note="the mean over no targets is NaN (0/0)")
    fam.case("cross_entropy_ls_all_ignored_sum", "cross_entropy", [fl(fam.randn(3, c)), fx(idx([-100, -100, -100]))],
             {"reduction": "sum", "label_smoothing": 0.1})
    fam.case("cross_entropy_unbatched", "cross_entropy", [fl(fam.randn(c)), fx(torch.tensor(3))],
             note="[C] logits with a 0-d target")
    fam.case("cross_entropy_large_logits", "cross_entropy", [fl(t([[1e4, 0.0, -1e4], [-3e4, 3e4, 0.0]])),
                                                             fx(idx([2, 0]))], {"reduction": "none"},
             note="no overflow: log_softmax subtracts the maximum")
    fam.case("cross_entropy_strided", "cross_entropy", [fl(fam.randn(c, n), view=[["t"]]), fx(tg)])
    fam.case("cross_entropy_target_out_of_range", "cross_entropy", [fl(fam.randn(2, 3)), fx(idx([0, 3]))],
             raises=True)
    fam.case("cross_entropy_int32_target", "cross_entropy", [fl(fam.randn(2, 3)), fx(t([0, 2], torch.int32))],
             raises="auto")
    fam.case("cross_entropy_batch_mismatch", "cross_entropy", [fl(fam.randn(2, 3)), fx(idx([0, 1, 2]))], raises=True)
    probs = torch.softmax(fam.randn(4, c), 1)
    fam.case("regress_cross_entropy_probs", "cross_entropy", [fl(fam.randn(4, c)), fl(probs)],
             note="class-probability targets (float, the shape of the logits)")
    fam.case("regress_cross_entropy_probs_ls_weight", "cross_entropy", [fl(fam.randn(4, c)), fl(probs),
                                                                        fl(w, grad=False)],
             {"label_smoothing": 0.2, "reduction": "sum", "parts": ["weight"]})
    fam.case("regress_cross_entropy_probs_none", "cross_entropy", [fl(fam.randn(4, c)), fl(probs)],
             {"reduction": "none"})
    fam.case("nll_loss_unbatched", "nll_loss", [fl(fam.randn(c)), fx(torch.tensor(1))])
    fam.case("nll_loss_kdim", "nll_loss", [fl(fam.randn(2, c, 3)), fx(fam.randint(0, c, 2, 3))])
    tgk = fam.randint(0, c, 2, 3, 2)
    tgk[0, 1, 0] = -100
    tgk[1, 2, 1] = -100
    fam.case("cross_entropy_kdim_weight_ignore", "cross_entropy", [fl(fam.randn(2, c, 3, 2)), fx(tgk),
                                                                   fl(w, grad=False)],
             {"parts": ["weight"], "label_smoothing": 0.1})
    fam.case("nll_loss_all_ignored", "nll_loss", [fl(fam.randn(2, c)), fx(idx([-100, -100]))],
             note="the mean over no targets is NaN (0/0)")
    for nm in ("mse_loss", "l1_loss"):
        fam.case(nm + "_strided", nm, [fl(fam.randn(4, 6), view=[["t"]]), fl(fam.randn(1, 4), view=[["expand", [6, 4]]])])
        fam.case(nm + "_equal", nm, [fl(t([1.0, 2.0, 3.0])), fl(t([1.0, 2.5, 3.0]))],
                 note="equal elements: the gradient there is 0 (l1: sign(0))")
        fam.case(nm + "_empty", nm, [fl(torch.zeros(0)), fl(torch.zeros(0))], note="the mean of nothing is NaN")
        fam.case("regress_%s_broadcast" % nm, nm, [fl(fam.randn(3, 4)), fl(fam.randn(4))],
                 note="the target broadcasts (PyTorch warns)")
        fam.case("regress_%s_mixed_dtype" % nm, nm, [fx(fam.randn(3, 4)), fx(fam.randn(3, 4).double())], grad=False,
                 note="float32 input with a float64 target: PyTorch promotes (its own backward fails on this "
                      "mix in 1.13, so only the forward is compared)")
        fam.case(nm + "_shape_mismatch", nm, [fl(fam.randn(3)), fl(fam.randn(4))], raises=True)
    fam.case("bce_logits_large", "bce_logits", [fl(t([-100.0, -30.0, 0.0, 30.0, 100.0])),
                                                fl(t([0.0, 1.0, 0.5, 0.0, 1.0]))], {"reduction": "none"},
             note="stable for large logits (no log(0))")
    fam.case("bce_logits_pos_weight_weight", "bce_logits", [fl(fam.randn(4, 3)), fl(fam.rand(4, 3)),
                                                            fl(fam.rand(4, 1), grad=False),
                                                            fl(fam.rand(3) + 0.5, grad=False)],
             {"parts": ["weight", "pos_weight"]})
    fam.case("bce_logits_strided", "bce_logits", [fl(fam.randn(3, 4), view=[["t"]]), fl(fam.rand(4, 3))])
    fam.case("bce_logits_shape_mismatch", "bce_logits", [fl(fam.randn(3)), fl(fam.rand(4))], raises=True)
    return fam


# ======================================================================================
# autograd and grad mode
# ======================================================================================
@op("backward_twice")
def _backward_twice(a, x, w, g):
    x = x.detach().requires_grad_()
    out = x * w
    out.backward(g, retain_graph=True)
    out.backward(g)
    return x.grad.clone()


op("detach_mix")(lambda a, x: x.detach() * x)


@op("backward_implicit")
def _backward_implicit(a, x):
    x = x.detach().requires_grad_()
    (x * 2).backward()
    return x.grad


@op("detach_")
def _detach_(a, x):
    y = x * 2
    y.detach_()
    return y, y.requires_grad


@op("requires_grad_")
def _requires_grad_(a, x):
    x = x.detach()
    x.requires_grad_(True)
    (x * x).sum().backward()
    return x.grad


@op("no_grad")
def _no_grad(a, x):
    with torch.no_grad():
        y = x * 2
        enabled = torch.is_grad_enabled()
    return y, y.requires_grad, enabled


@op("enable_grad")
def _enable_grad(a, x):
    with torch.no_grad():
        with torch.enable_grad():
            y = x * 2
    return y, y.requires_grad


@op("set_grad_enabled")
def _set_grad_enabled(a, x):
    torch.set_grad_enabled(False)
    try:
        y = x * 3
        state = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    return y, y.requires_grad, state, torch.is_grad_enabled()


@op("autocast")
def _autocast(a, x, w):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.matmul(x, w)
        inside = torch.is_autocast_cpu_enabled()
        with torch.autocast("cpu", enabled=False):
            z = torch.matmul(x, w)
    return y, z, inside, torch.is_autocast_cpu_enabled()


def autograd_family():
    fam = Family("autograd", 1111)
    fam.case("backward_twice", "backward_twice", [fl(fam.randn(3, 4), grad=False), fl(fam.randn(3, 4), grad=False),
                                                  fl(fam.randn(3, 4), grad=False)],
             note="a second backward (the graph retained) adds to .grad")
    fam.case("detach_mix", "detach_mix", [fl(fam.randn(3, 4))], note="the detached factor is a constant")
    fam.case("detach_", "detach_", [fl(fam.randn(3))])
    fam.case("requires_grad_", "requires_grad_", [fl(fam.randn(4), grad=False)])
    fam.case("inplace_on_leaf", "abs_", [fl(fam.randn(3))], raises=True,
             note="a leaf that requires grad cannot be modified in place")
    fam.case("backward_needs_gradient", "backward_implicit", [fl(fam.randn(3))], raises=True,
             note="only a one-element result gets the gradient 1 implicitly")
    fam.case("backward_implicit_scalar", "backward_implicit", [fl(fam.randn(1))], grad=False)
    fam.case("no_grad", "no_grad", [fl(fam.randn(3))], note="results made under no_grad do not require grad")
    fam.case("enable_grad", "enable_grad", [fl(fam.randn(3))])
    fam.case("set_grad_enabled", "set_grad_enabled", [fl(fam.randn(3))])
    fam.case("autocast", "autocast", [fx(fam.randn(3, 4)), fx(fam.randn(4, 2))],
             note="products in bfloat16 inside autocast, float32 again in an autocast(false) region",
             tol=1e-2, why="the product and its gradients run in bfloat16 (8-bit mantissa)")
    return fam


def main():
    builders = [unary_family, binary_family, reduce_family, index_family, view_family, create_family,
                where_family, matmul_family, nn_family, loss_family, autograd_family]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    os.makedirs(out, exist_ok=True)
    total = 0
    for b in builders:
        fam = b()
        fam.write(out, torch.__version__)
        total += len(fam.cases)
        print("%-10s %4d cases" % (fam.name, len(fam.cases)))
    print("%-10s %4d cases (PyTorch %s)" % ("all", total, torch.__version__))


if __name__ == "__main__":
    try:
        main()
    except GenError as e:
        sys.exit("gen.py: %s" % e)
