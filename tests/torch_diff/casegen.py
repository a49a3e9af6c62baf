"""casegen — the machinery of the differential suite's generator (gen.py holds the cases).

A case is an op name, its tensor inputs, its non-tensor arguments (PyTorch's
conventions: 0-based dims, indices and class targets) and what PyTorch returns
for them: the outputs, and the gradient of sum(out * gy) for every floating
input, gy being a stored random upstream gradient. The PyTorch side of each
op is one entry of TORCH (op name -> function(args, *inputs)); the Lua side is
the table `ops` in run.lua, under the same name.

Inputs come in two roles:
  float  stored as float32 (so the values are exact in float32 and float64);
         the case runs twice, in float64 (the reference, stored as float64)
         and in float32 (PyTorch's own float32 error against that reference is
         measured and written into the case);
  fixed  a tensor of a given dtype (int64, bool, float32 next to float64, ...)
         that keeps it: a case with only fixed inputs runs once, and its
         reference is what PyTorch computes at those dtypes.
An input may be a view of the stored tensor (transposed, sliced with a step,
narrowed, expanded, channels-last, ...): the view recipe is stored with the
case, applied on both sides, and the view's strides are stored too, so the
runner checks that luatrain built the same layout. Gradients are taken with
respect to the stored (base) tensor.

The files: one safetensors file per family (cases/<family>.safetensors). The
tensors are named <case>.in<i>, <case>.out<i>, <case>.gy<i> and
<case>.grad<i> (and <case>.out<i>.f32, <case>.grad<i>.f32 for the cases
compared with PyTorch's own float32 results); the case list is JSON under the
metadata key "luatrain", in the tagged form lt.load reads back ("#i3" an
integer, "#t<name>" a tensor of the file), so `lt.load(path).cases` is the
list with the tensors in place. python3-safetensors is not a Debian package,
so the format is written here.

Bounds (relative Frobenius error, as T.relerr): float64 1e-10; float32 1e-4,
or MARGIN x PyTorch's own float32 error on the case when that is larger, with
a `why` beside the case. The matrix-product cases also carry a TF32 bound for
the GPU, max(1e-3, MARGIN x the error of PyTorch's float32 on TF32-rounded
inputs), and a bound for bf16 autocast (run on every device), max(1e-2,
MARGIN x PyTorch's own CPU bf16 error).
"""
import contextlib
import json
import math
import os
import struct
import types
import warnings

import torch

# The default bounds (README of tests/golden): relative Frobenius error.
TOL32, TOL64 = 1e-4, 1e-10
TOL_TF32, TOL_BF16 = 1e-3, 1e-2
# A case whose float32 bound must exceed TOL32 because PyTorch's own float32
# result is that far from the float64 one gets MARGIN x PyTorch's error, and
# must say why (the `why` argument of Family.case).
MARGIN = 4.0

TORCH = {}  # op name -> fn(args, *inputs)


def op(*names):
    """Registers the decorated function as the PyTorch side of `names`."""
    def deco(fn):
        for n in names:
            assert n not in TORCH, n
            TORCH[n] = fn
        return fn
    return deco


class GenError(Exception):
    pass


DTYPE_NAME = {
    torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
    torch.uint8: "uint8", torch.bool: "bool", torch.bfloat16: "bfloat16", torch.float16: "float16",
}
ST_NAME = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
           torch.uint8: "U8", torch.bool: "BOOL"}


class Inp:
    def __init__(self, value, role, view=(), grad=True):
        if value.dtype not in ST_NAME:
            raise GenError("inputs are stored as F32, F64, I64, I32, U8 or BOOL, not %s" % value.dtype)
        self.value = value.detach().clone().contiguous()
        self.role = role
        self.view = [list(s) for s in view]
        self.grad = bool(grad) and value.is_floating_point()


def fl(t, view=(), grad=True):
    """A float-role input: stored as float32, run in float32 and float64."""
    t32 = t.detach().to(torch.float32)
    if not torch.equal(t32.double(), t.detach().double()) and not t.isnan().any():
        raise GenError("a float input must be exactly representable in float32")
    return Inp(t32, "float", view, grad)


def fx(t, view=(), grad=None):
    """A fixed input: keeps its dtype (gradients for floating ones unless grad=False)."""
    return Inp(t, "fixed", view, t.is_floating_point() if grad is None else grad)


def apply_view(x, steps):
    """The view recipe (run.lua's apply_view is the Lua side)."""
    for s in steps:
        k = s[0]
        if k == "t":
            x = x.t()
        elif k == "transpose":
            x = x.transpose(s[1], s[2])
        elif k == "permute":
            x = x.permute(*s[1])
        elif k == "step":  # every s[2]-th element along dim s[1]
            if x.shape[s[1]] % s[2]:
                raise GenError("step views need a size divisible by the step")
            idx = [slice(None)] * x.dim()
            idx[s[1]] = slice(None, None, s[2])
            x = x[tuple(idx)]
        elif k == "narrow":
            x = x.narrow(s[1], s[2], s[3])
        elif k == "select":
            x = x.select(s[1], s[2])
        elif k == "expand":
            x = x.expand(*s[1])
        elif k == "unsqueeze":
            x = x.unsqueeze(s[1])
        elif k == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        elif k == "clone":
            x = x.clone()
        else:
            raise GenError("unknown view step %r" % (k,))
    return x


class TRef:
    """A tensor of the file, in the metadata ("#t<name>")."""
    def __init__(self, name):
        self.name = name


def enc(v):
    """A Python value in the tagged JSON form luatrain's metadata uses."""
    if isinstance(v, TRef):
        return "#t" + v.name
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return "#i%d" % v
    if isinstance(v, float):
        if math.isnan(v):
            return "#fnan"
        if math.isinf(v):
            return "#finf" if v > 0 else "#f-inf"
        return v
    if isinstance(v, str):
        return "#" + v if v.startswith("#") else v
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if x is None:
                continue
            key = "#i%d" % k if isinstance(k, int) else ("#" + k if k.startswith("#") else k)
            out[key] = enc(x)
        return out
    raise GenError("cannot store %r in the metadata" % (v,))


def lua_value(v):
    """A non-tensor output as the Lua value luatrain would return."""
    if isinstance(v, torch.dtype):
        return DTYPE_NAME[v]
    if isinstance(v, torch.Size):
        return [int(s) for s in v]
    if isinstance(v, (list, tuple)):
        return [lua_value(x) for x in v]
    if isinstance(v, (bool, int, float, str)):
        return v
    raise GenError("unsupported output value %r" % (v,))


def lua_type(v):
    if isinstance(v, bool):
        return "lua:boolean"
    if isinstance(v, int):
        return "lua:integer"
    if isinstance(v, float):
        return "lua:float"
    if isinstance(v, str):
        return "lua:string"
    return "lua:table"


def relerr(got, ref):
    """‖got − ref‖ / ‖ref‖ in float64 over the finite entries (‖got − ref‖ when
    ref is 0); inf when NaN or infinities sit elsewhere (T.tensor_close's rule)."""
    g, r = got.detach().double(), ref.detach().double()
    if g.shape != r.shape:
        return math.inf
    if g.numel() == 0:
        return 0.0
    gn, rn = g.isnan(), r.isnan()
    if not torch.equal(gn, rn):
        return math.inf
    gi, ri = g.isinf(), r.isinf()
    if not torch.equal(gi, ri) or not torch.equal(g[gi], r[ri]):
        return math.inf
    m = gn | gi
    g, r = g.masked_fill(m, 0), r.masked_fill(m, 0)
    d, n = (g - r).norm().item(), r.norm().item()
    return d / n if n > 0 else d


def bound(default, err):
    """max(default, MARGIN x err), rounded up to one significant digit."""
    want = MARGIN * err
    if want <= default:
        return default
    e = math.floor(math.log10(want))
    return math.ceil(want / 10 ** e) * 10 ** e


def round_tf32(t):
    """float32 values rounded to TF32's 10-bit mantissa (round to nearest even)."""
    i = t.detach().float().contiguous().view(torch.int32).to(torch.int64)
    lsb = (i >> 13) & 1
    i = ((i + 0xFFF + lsb) >> 13) << 13
    i = torch.where(i >= 2 ** 31, i - 2 ** 32, i)
    return i.to(torch.int32).view(torch.float32).to(t.dtype)


ALL_NAMES = set()  # case names are unique over all families


class Family:
    """One file of cases: its tensors, its case list and its random generator."""

    def __init__(self, name, seed):
        self.name = name
        self.gen = torch.Generator().manual_seed(seed)
        self.cases = []
        self.meta = []
        self.tensors = {}

    # --- random inputs (one generator per family, cases in a fixed order) ---
    def randn(self, *shape):
        return torch.randn(shape, generator=self.gen)

    def rand(self, *shape):
        return torch.rand(shape, generator=self.gen)

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.gen)

    def case(self, name, op_name, inputs, args=None, *, raises=False, check=None, why=None, note=None,
             grad=True, products=False, cpu_only=False, ref32=False, tol=None):
        """Runs the case with PyTorch and records it. raises: PyTorch must raise
        (the runner then asserts luatrain raises too, naming the function).
        check: a property check in run.lua instead of (or beside) the values,
        for results PyTorch leaves unspecified (ties). products: the op runs
        matrix products (TF32 on the GPU, bf16 under autocast). ref32: the
        float32 run is compared with PyTorch's float32 results instead of the
        float64 ones (where float32 overflows or rounds differently by design:
        special values). tol: the bound of a fixed-dtype case's float results
        (with a `why`), where the default for their dtype does not apply."""
        if name in ALL_NAMES:
            raise GenError("duplicate case name " + name)
        ALL_NAMES.add(name)
        c = types.SimpleNamespace(name=name, op=op_name, inputs=inputs, args=dict(args or {}), fn=TORCH[op_name])
        c.raises, c.check, c.why, c.note, c.grad = raises, check, why, note, grad
        c.products, c.cpu_only, c.ref32, c.tol = products, cpu_only, ref32, tol
        if tol is not None and not why:
            raise GenError("%s/%s: a tolerance needs a `why`" % (self.name, name))
        c.mode = "float" if any(i.role == "float" for i in inputs) else "fixed"
        try:
            self._record(c)
        except GenError as e:
            raise GenError("%s/%s: %s" % (self.name, name, e)) from None
        self.cases.append(c)

    # --- running one case in one mode ---
    def _run(self, c, mode, gys=None, prep=None):
        torch.manual_seed(0)
        leaves, xs, strides = [], [], []
        for inp in c.inputs:
            t = inp.value.clone()
            if inp.role == "float":
                t = t.to(torch.float64 if mode == "f64" else torch.float32)
            if prep:
                t = prep(t)
            if c.grad and inp.grad and t.is_floating_point():
                t.requires_grad_(True)
                leaves.append(t)
            else:
                leaves.append(None)
            x = apply_view(t, inp.view)
            strides.append(list(x.stride()))
            xs.append(x)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with ctx:
                outs = c.fn(c.args, *xs)
            if isinstance(outs, tuple) and not isinstance(outs, torch.Size):
                outs = list(outs)
            else:
                outs = [outs]
            diff = [k for k, o in enumerate(outs)
                    if torch.is_tensor(o) and o.requires_grad and o.is_floating_point()]
            grads = None
            if diff and any(l is not None for l in leaves):
                if gys is None:
                    gys = {k: torch.randn(outs[k].shape, generator=self.gen).float() for k in diff}
                wrt = [l for l in leaves if l is not None]
                gs = torch.autograd.grad([outs[k] for k in diff], wrt,
                                         [gys[k].to(outs[k].dtype) for k in diff], allow_unused=True)
                it = iter(gs)
                grads = [next(it) if l is not None else None for l in leaves]
        msgs = sorted({str(w.message).split("\n")[0] for w in caught})
        return outs, diff, gys, grads, strides, msgs

    def _record(self, c):
        p = c.name + "."
        meta = {"name": c.name, "op": c.op, "args": c.args, "mode": c.mode}
        if c.note:
            meta["note"] = c.note
        if c.check:
            meta["check"] = c.check
        if c.cpu_only:
            meta["cpu_only"] = True
        ins = []
        for k, inp in enumerate(c.inputs):
            key = "%sin%d" % (p, k + 1)
            self.tensors[key] = inp.value
            d = {"t": TRef(key), "role": inp.role, "grad": inp.grad and c.grad}
            if inp.view:
                d["view"] = inp.view
            ins.append(d)
        meta["inputs"] = ins
        ref_mode = "f64" if c.mode == "float" else "fixed"
        if c.raises == "auto":  # a dtype sweep: whatever PyTorch does is the reference
            try:
                self._run(c, ref_mode)
                c.raises = False
            except Exception:
                c.raises = True
        if c.raises:
            msgs = []
            for mode in (["f64", "f32"] if c.mode == "float" else ["fixed"]):
                try:
                    self._run(c, mode)
                except Exception as e:  # PyTorch's refusal is the reference
                    msgs.append(str(e).strip().split("\n")[0][:200])
                else:
                    raise GenError("declared raises=True, but PyTorch returned (%s)" % mode)
            meta["raises"] = True
            meta["torch_error"] = msgs[0]
            self.meta.append(meta)
            return
        try:
            outs, diff, gys, grads, strides, msgs = self._run(c, ref_mode)
        except Exception as e:
            raise GenError("PyTorch raised (%s); declare raises=True if that is the point" % e) from None
        for k, inp in enumerate(c.inputs):
            if inp.view:
                ins[k]["strides"] = strides[k]
        if msgs:
            meta["torch_warning"] = msgs
        refs, dtypes = [], {}
        for k, o in enumerate(outs):
            if torch.is_tensor(o):
                key = "%sout%d" % (p, k + 1)
                v = o.detach().contiguous()
                self.tensors[key] = v.double() if v.is_floating_point() else v.clone()
                refs.append({"t": TRef(key)})
            else:
                refs.append({"v": lua_value(o)})
        meta["outs"] = refs
        dtypes[ref_mode] = [DTYPE_NAME[o.dtype] if torch.is_tensor(o) else lua_type(lua_value(o)) for o in outs]
        if diff and grads is not None:
            meta["gys"] = {}
            for k in diff:
                key = "%sgy%d" % (p, k + 1)
                self.tensors[key] = gys[k]
                meta["gys"][k + 1] = TRef(key)
            meta["grads"] = {}
            for k, g in enumerate(grads):
                if c.inputs[k].grad and c.grad:
                    if g is None:
                        meta["grads"][k + 1] = "none"
                    else:
                        key = "%sgrad%d" % (p, k + 1)
                        self.tensors[key] = g.detach().double().contiguous()
                        meta["grads"][k + 1] = TRef(key)
        if c.mode == "float" and c.ref32:
            outs32, _, _, grads32, _, _ = self._run(c, "f32", gys=gys)
            dtypes["f32"] = [DTYPE_NAME[o.dtype] if torch.is_tensor(o) else lua_type(lua_value(o)) for o in outs32]
            r32 = {"outs": [], "grads": {}}
            for k, o in enumerate(outs32):
                if torch.is_tensor(o):
                    key = "%sout%d.f32" % (p, k + 1)
                    v = o.detach().contiguous()
                    self.tensors[key] = v.double() if v.is_floating_point() else v.clone()
                    r32["outs"].append({"t": TRef(key)})
                else:
                    r32["outs"].append({"v": lua_value(o)})
            for k, g in enumerate(grads32 or []):
                if g is not None:
                    key = "%sgrad%d.f32" % (p, k + 1)
                    self.tensors[key] = g.detach().double().contiguous()
                    r32["grads"][k + 1] = TRef(key)
            meta["ref32"] = r32
            meta["tol32"] = TOL32
        elif c.mode == "float":
            err = self._err(c, "f32", outs, grads, gys, dtypes, refs=refs)
            meta["err32"] = err
            meta["tol32"] = bound(TOL32, err)
            if meta["tol32"] > TOL32 and not c.why and not c.check:
                raise GenError("PyTorch's own float32 error is %.3g; a bound of %g needs a `why`" %
                               (err, meta["tol32"]))
            if c.products:
                e = self._err(c, "bf16", outs, grads, gys, dtypes)
                meta["err_bf16"], meta["tol_bf16"] = e, bound(TOL_BF16, e)
                e = self._err(c, "f32", outs, grads, gys, {}, prep=round_tf32)
                meta["err_tf32"], meta["tol_tf32"] = e, bound(TOL_TF32, e)
        if c.tol is not None:
            meta["tol_fixed"] = c.tol
        if c.why:
            meta["why"] = c.why
        meta["dtypes"] = dtypes
        self.meta.append(meta)

    def _err(self, c, mode, outs64, grads64, gys, dtypes, prep=None, refs=None):
        """PyTorch's own error in `mode` against the float64 reference. A Lua
        value that differs in float32 (a dtype name) is stored beside the
        reference as v32."""
        outs, _, _, grads, _, _ = self._run(c, mode, gys=gys, prep=prep)
        if refs is not None and mode == "f32":
            for k, o in enumerate(outs):
                if not torch.is_tensor(o) and not isinstance(o, float) and lua_value(o) != refs[k].get("v"):
                    refs[k]["v32"] = lua_value(o)
        if dtypes is not None and mode not in dtypes:
            dtypes[mode] = [DTYPE_NAME[o.dtype] if torch.is_tensor(o) else lua_type(lua_value(o)) for o in outs]
        err = 0.0
        for o, r in zip(outs, outs64):
            if torch.is_tensor(o) and o.is_floating_point():
                err = max(err, relerr(o, r))
            elif torch.is_tensor(o):
                if not torch.equal(o, r) and not c.check:
                    raise GenError("the %s run gives other integer results than float64" % mode)
            elif isinstance(o, float):
                err = max(err, abs(o - r) / (abs(r) or 1.0))
        for g, r in zip(grads or [], grads64 or []):
            if g is not None and r is not None:
                err = max(err, relerr(g, r))
        if math.isinf(err) and not c.check:
            raise GenError("the %s run puts NaN or infinity elsewhere than float64" % mode)
        return float("%.3g" % err)

    def write(self, folder, torch_version):
        tree = {"family": self.name, "torch": torch_version, "cases": self.meta}
        meta = {"format": "pt", "luatrain": json.dumps(enc(tree), sort_keys=True, separators=(",", ":"))}
        write_safetensors(os.path.join(folder, self.name + ".safetensors"), self.tensors, meta)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous()
        b = t.numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
