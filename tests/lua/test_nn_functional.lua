-- test_nn_functional.lua — lt.nn.functional forward semantics: every op on
-- random inputs against a naive Lua recomputation (conv2d with stride,
-- padding, dilation, groups and bias; the three poolings; batch norm in both
-- modes with the running-statistics update; softmax; every loss with each
-- reduction, class weights, label smoothing and ignore_index; activations;
-- dropout's statistics), the option forms, in-place variants, and the error
-- messages of bad calls. Gradients: test_nn_gradcheck.lua; PyTorch's
-- numbers: test_nn_golden.lua.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local D = {dtype = "float64"}

-- --- helpers ---------------------------------------------------------------------------

local function shape_str(s) return "[" .. table.concat(s, ",") .. "]" end

local function same_shape(t, s, what)
  return T.check(shape_str(t:shape()) == shape_str(s),
                 string.format("%s: shape %s, expected %s", what, shape_str(t:shape()), shape_str(s)))
end

-- max |a_i - b_i| / (1 + |b_i|) over flat values (a tensor, b a Lua array)
local function close(t, ref, tol, what)
  local a = t:_flat_values()
  if #a ~= #ref then return T.check(false, string.format("%s: %d values, expected %d", what, #a, #ref)) end
  local worst, at = 0, 0
  for i = 1, #a do
    local d = math.abs(a[i] - ref[i]) / (1 + math.abs(ref[i]))
    if d ~= d then d = math.huge end
    if d > worst then worst, at = d, i end
  end
  return T.check(worst <= tol, string.format("%s: element %d is %s, expected %s (error %.3g > %g)", what, at,
                                             tostring(a[at]), tostring(ref[at]), worst, tol))
end

local function randn(shape) return lt.randn(shape, D) end

-- --- reference implementations on flat arrays ------------------------------------------

local function conv_ref(x, w, b, s, p, d, groups)
  local xs, ws = x:shape(), w:shape()
  local N, C, H, W = xs[1], xs[2], xs[3], xs[4]
  local CO, Cg, KH, KW = ws[1], ws[2], ws[3], ws[4]
  local OH = (H + 2 * p[1] - d[1] * (KH - 1) - 1) // s[1] + 1
  local OW = (W + 2 * p[2] - d[2] * (KW - 1) - 1) // s[2] + 1
  local xv, wv, bv = x:_flat_values(), w:_flat_values(), b and b:_flat_values()
  local COg, out = CO // groups, {}
  for n = 0, N - 1 do
    for co = 0, CO - 1 do
      local g = co // COg
      for oh = 0, OH - 1 do
        for ow = 0, OW - 1 do
          local acc = bv and bv[co + 1] or 0
          for c = 0, Cg - 1 do
            local ci = g * Cg + c
            for kh = 0, KH - 1 do
              local ih = oh * s[1] - p[1] + kh * d[1]
              if ih >= 0 and ih < H then
                for kw = 0, KW - 1 do
                  local iw = ow * s[2] - p[2] + kw * d[2]
                  if iw >= 0 and iw < W then
                    acc = acc + xv[((n * C + ci) * H + ih) * W + iw + 1] * wv[((co * Cg + c) * KH + kh) * KW + kw + 1]
                  end
                end
              end
            end
          end
          out[#out + 1] = acc
        end
      end
    end
  end
  return out, {N, CO, OH, OW}
end

local function pool_out(n, k, s, p, d, ceil)
  local num = n + 2 * p - d * (k - 1) - 1 + (ceil and s - 1 or 0)
  local o = num // s + 1
  if ceil and (o - 1) * s >= n + p then o = o - 1 end
  return o
end

local function maxpool_ref(x, k, s, p, d, ceil)
  local xs = x:shape()
  local P, H, W = xs[1] * xs[2], xs[3], xs[4]
  local OH, OW = pool_out(H, k[1], s[1], p[1], d[1], ceil), pool_out(W, k[2], s[2], p[2], d[2], ceil)
  local xv, out, idx = x:_flat_values(), {}, {}
  for pl = 0, P - 1 do
    for oh = 0, OH - 1 do
      for ow = 0, OW - 1 do
        local best, bi = -math.huge, nil
        for kh = 0, k[1] - 1 do
          local ih = oh * s[1] - p[1] + kh * d[1]
          for kw = 0, k[2] - 1 do
            local iw = ow * s[2] - p[2] + kw * d[2]
            if ih >= 0 and ih < H and iw >= 0 and iw < W then
              local v = xv[pl * H * W + ih * W + iw + 1]
              if v > best then best, bi = v, ih * W + iw + 1 end
            end
          end
        end
        out[#out + 1], idx[#idx + 1] = best, bi
      end
    end
  end
  return out, idx, {xs[1], xs[2], OH, OW}
end

local function avgpool_ref(x, k, s, p, ceil, include_pad, divisor)
  local xs = x:shape()
  local P, H, W = xs[1] * xs[2], xs[3], xs[4]
  local OH, OW = pool_out(H, k[1], s[1], p[1], 1, ceil), pool_out(W, k[2], s[2], p[2], 1, ceil)
  local xv, out = x:_flat_values(), {}
  for pl = 0, P - 1 do
    for oh = 0, OH - 1 do
      for ow = 0, OW - 1 do
        local hs, ws = oh * s[1] - p[1], ow * s[2] - p[2]
        local he, we = math.min(hs + k[1], H + p[1]), math.min(ws + k[2], W + p[2])
        local pool = (he - hs) * (we - ws)
        hs, ws, he, we = math.max(hs, 0), math.max(ws, 0), math.min(he, H), math.min(we, W)
        local sum = 0
        for ih = hs, he - 1 do for iw = ws, we - 1 do sum = sum + xv[pl * H * W + ih * W + iw + 1] end end
        local div = divisor or (include_pad and pool or (he - hs) * (we - ws))
        out[#out + 1] = sum / div
      end
    end
  end
  return out, {xs[1], xs[2], OH, OW}
end

local function adaptive_ref(x, OH, OW)
  local xs = x:shape()
  local P, H, W = xs[1] * xs[2], xs[3], xs[4]
  local xv, out = x:_flat_values(), {}
  for pl = 0, P - 1 do
    for oh = 0, OH - 1 do
      local h0, h1 = (oh * H) // OH, ((oh + 1) * H + OH - 1) // OH
      for ow = 0, OW - 1 do
        local w0, w1 = (ow * W) // OW, ((ow + 1) * W + OW - 1) // OW
        local sum = 0
        for ih = h0, h1 - 1 do for iw = w0, w1 - 1 do sum = sum + xv[pl * H * W + ih * W + iw + 1] end end
        out[#out + 1] = sum / ((h1 - h0) * (w1 - w0))
      end
    end
  end
  return out
end

-- log_softmax rows of an [R, C] array
local function log_softmax_rows(v, R, C)
  local out = {}
  for r = 0, R - 1 do
    local m = -math.huge
    for c = 1, C do m = math.max(m, v[r * C + c]) end
    local s = 0
    for c = 1, C do s = s + math.exp(v[r * C + c] - m) end
    for c = 1, C do out[r * C + c] = v[r * C + c] - m - math.log(s) end
  end
  return out
end

-- cross entropy of [N, C] logits, 1-based labels, PyTorch's formulas
local function ce_ref(logits, labels, opts)
  local s = logits:shape()
  local N, C = s[1], s[2]
  local lp = log_softmax_rows(logits:_flat_values(), N, C)
  local w = opts.weight and opts.weight:_flat_values()
  local eps, ignore = opts.label_smoothing or 0, opts.ignore_index or -100
  local per, wsum = {}, 0
  for n = 0, N - 1 do
    local t = labels[n + 1]
    if t == ignore then
      per[n + 1] = 0
    else
      local wt = w and w[t] or 1
      local nll = -wt * lp[n * C + t]
      local smooth = 0
      for c = 1, C do smooth = smooth - (w and w[c] or 1) * lp[n * C + c] end
      per[n + 1] = (1 - eps) * nll + eps / C * smooth
      wsum = wsum + wt
    end
  end
  local red = opts.reduction or "mean"
  if red == "none" then return per end
  local total = 0
  for i = 1, N do total = total + per[i] end
  if red == "sum" then return {total} end
  return {total / wsum}
end

-- --- convolution ----------------------------------------------------------------------------

T.test("conv2d against a naive loop", function()
  local cases = {
    {x = {2, 3, 7, 6}, w = {4, 3, 3, 3}, s = {1, 1}, p = {1, 1}, d = {1, 1}, g = 1, bias = true},
    {x = {3, 4, 9, 8}, w = {6, 4, 3, 3}, s = {2, 2}, p = {0, 0}, d = {1, 1}, g = 1, bias = false},
    {x = {2, 4, 6, 7}, w = {6, 2, 3, 2}, s = {2, 1}, p = {1, 0}, d = {1, 1}, g = 2, bias = true},
    {x = {1, 2, 9, 9}, w = {3, 2, 3, 3}, s = {1, 1}, p = {2, 2}, d = {2, 2}, g = 1, bias = true},
    {x = {5, 3, 4, 4}, w = {3, 1, 3, 3}, s = {1, 1}, p = {1, 1}, d = {1, 1}, g = 3, bias = false}, -- depthwise
    {x = {3, 5, 4, 5}, w = {2, 5, 1, 1}, s = {1, 1}, p = {0, 0}, d = {1, 1}, g = 1, bias = true},  -- 1x1 direct
    {x = {1, 5, 4, 5}, w = {2, 5, 1, 1}, s = {1, 1}, p = {0, 0}, d = {1, 1}, g = 1, bias = false}, -- one image
    {x = {4, 6, 5, 5}, w = {4, 6, 1, 1}, s = {2, 2}, p = {0, 0}, d = {1, 1}, g = 1, bias = false}, -- shortcut
    {x = {9, 8, 2, 3}, w = {5, 8, 2, 2}, s = {1, 1}, p = {1, 0}, d = {1, 1}, g = 1, bias = true},  -- tiny planes
  }
  for i, c in ipairs(cases) do
    local x, w = randn(c.x), randn(c.w)
    local b = c.bias and randn({c.w[1]}) or nil
    local ref, shape = conv_ref(x, w, b, c.s, c.p, c.d, c.g)
    local y = F.conv2d(x, w, b, {stride = c.s, padding = c.p, dilation = c.d, groups = c.g})
    same_shape(y, shape, "conv2d case " .. i)
    close(y, ref, 1e-12, "conv2d case " .. i)
    -- float32 agrees with float64
    local y32 = F.conv2d(x:float(), w:float(), b and b:float(), {stride = c.s, padding = c.p, dilation = c.d, groups = c.g})
    T.check(y32:dtype() == "float32", "float32 in, float32 out")
    close(y32, ref, 1e-4, "conv2d float32 case " .. i)
  end
end)

T.test("conv2d options: scalars, pairs, 'same', 'valid', non-contiguous input", function()
  local x, w = randn({2, 3, 6, 5}), randn({4, 3, 3, 3})
  local ref = conv_ref(x, w, nil, {1, 1}, {1, 1}, {1, 1}, 1)
  close(F.conv2d(x, w, nil, {padding = "same"}), ref, 1e-12, "padding='same'")
  close(F.conv2d(x, w, nil, {padding = 1, stride = 1}), ref, 1e-12, "scalar padding")
  local valid = conv_ref(x, w, nil, {1, 1}, {0, 0}, {1, 1}, 1)
  close(F.conv2d(x, w, nil, {padding = "valid"}), valid, 1e-12, "padding='valid'")
  close(F.conv2d(x, w), valid, 1e-12, "defaults")
  local xt = randn({2, 3, 5, 6}):transpose(3, 4)
  T.check(not xt:is_contiguous(), "transposed input is not contiguous")
  close(F.conv2d(xt, w, nil, {padding = 1}), conv_ref(xt:contiguous(), w, nil, {1, 1}, {1, 1}, {1, 1}, 1), 1e-12,
        "non-contiguous input")
  -- a larger batch exercises the threaded chunking
  local xb, wb = randn({17, 8, 6, 6}), randn({16, 8, 3, 3})
  close(F.conv2d(xb, wb, nil, {padding = 1, stride = 2}), conv_ref(xb, wb, nil, {2, 2}, {1, 1}, {1, 1}, 1), 1e-11,
        "batch 17")
end)

T.test("conv2d: one thread and many agree, gradients are deterministic", function()
  local x, w = randn({6, 4, 5, 5}), randn({6, 2, 3, 3})
  local gy = randn({6, 6, 5, 5})
  local function run()
    local xl, wl = x:clone(), w:clone()
    xl.requires_grad, wl.requires_grad = true, true
    local y = F.conv2d(xl, wl, nil, {padding = 1, groups = 2})
    y:backward(gy)
    return y:_flat_values(), xl.grad:_flat_values(), wl.grad:_flat_values()
  end
  local threads = lt.get_num_threads()
  local y1, gx1, gw1 = run()
  local y2, gx2, gw2 = run()
  close(lt.tensor(y2, D), y1, 0, "same threads: identical output")
  close(lt.tensor(gw2, D), gw1, 0, "same threads: identical weight gradient")
  lt.set_num_threads(1)
  local ok, y3, gx3, gw3 = pcall(run)
  lt.set_num_threads(threads)
  T.check(ok, "single-threaded run: " .. tostring(y3))
  if ok then
    close(lt.tensor(y3, D), y1, 1e-12, "one thread vs " .. threads .. ": output")
    close(lt.tensor(gx3, D), gx1, 1e-12, "one thread vs " .. threads .. ": input gradient")
    close(lt.tensor(gw3, D), gw1, 1e-12, "one thread vs " .. threads .. ": weight gradient")
  end
end)

-- --- pooling --------------------------------------------------------------------------------------

T.test("max_pool2d against a naive loop, with indices", function()
  local cases = {
    {x = {2, 3, 7, 7}, k = {3, 3}, s = {2, 2}, p = {1, 1}, d = {1, 1}, ceil = false},
    {x = {1, 2, 8, 6}, k = {2, 2}, s = {2, 2}, p = {0, 0}, d = {1, 1}, ceil = false},
    {x = {2, 2, 9, 8}, k = {3, 2}, s = {2, 3}, p = {1, 1}, d = {2, 1}, ceil = true},
    {x = {1, 3, 5, 5}, k = {2, 2}, s = {2, 2}, p = {0, 0}, d = {1, 1}, ceil = true},
  }
  for i, c in ipairs(cases) do
    local x = randn(c.x)
    local ref, idx, shape = maxpool_ref(x, c.k, c.s, c.p, c.d, c.ceil)
    local y, ind = F.max_pool2d(x, c.k, {stride = c.s, padding = c.p, dilation = c.d, ceil_mode = c.ceil,
                                         return_indices = true})
    same_shape(y, shape, "max_pool2d case " .. i)
    close(y, ref, 0, "max_pool2d case " .. i)
    T.check(ind:dtype() == "int64", "indices are int64")
    close(ind, idx, 0, "max_pool2d 1-based indices case " .. i)
  end
  -- stride defaults to the kernel size
  local x = randn({1, 1, 6, 6})
  close(F.max_pool2d(x, 2), (maxpool_ref(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false)), 0, "default stride")
end)

T.test("avg_pool2d against a naive loop", function()
  local cases = {
    {x = {2, 3, 8, 8}, k = {2, 2}, s = {2, 2}, p = {0, 0}, ceil = false, inc = true},
    {x = {1, 2, 7, 6}, k = {3, 3}, s = {2, 2}, p = {1, 1}, ceil = false, inc = true},
    {x = {1, 2, 7, 6}, k = {3, 3}, s = {2, 2}, p = {1, 1}, ceil = false, inc = false},
    {x = {2, 1, 7, 7}, k = {3, 2}, s = {2, 2}, p = {1, 1}, ceil = true, inc = true},
    {x = {2, 1, 7, 7}, k = {3, 3}, s = {3, 3}, p = {1, 1}, ceil = true, inc = false},
    {x = {1, 1, 5, 5}, k = {2, 2}, s = {1, 1}, p = {1, 1}, ceil = false, inc = true, div = 3},
  }
  for i, c in ipairs(cases) do
    local x = randn(c.x)
    local ref, shape = avgpool_ref(x, c.k, c.s, c.p, c.ceil, c.inc, c.div)
    local y = F.avg_pool2d(x, c.k, {stride = c.s, padding = c.p, ceil_mode = c.ceil, count_include_pad = c.inc,
                                    divisor_override = c.div})
    same_shape(y, shape, "avg_pool2d case " .. i)
    close(y, ref, 1e-12, "avg_pool2d case " .. i)
  end
end)

T.test("adaptive_avg_pool2d windows", function()
  for _, c in ipairs{{{2, 3, 6, 6}, 1, 1}, {{1, 2, 7, 5}, 3, 2}, {{1, 1, 5, 7}, 5, 7}, {{2, 2, 4, 4}, 6, 5}} do
    local x = randn(c[1])
    local y = F.adaptive_avg_pool2d(x, {c[2], c[3]})
    same_shape(y, {c[1][1], c[1][2], c[2], c[3]}, "adaptive shape")
    close(y, adaptive_ref(x, c[2], c[3]), 1e-12, "adaptive " .. shape_str(c[1]) .. " -> " .. c[2] .. "x" .. c[3])
  end
  local x = randn({2, 3, 4, 4})
  close(F.adaptive_avg_pool2d(x, 1), x:mean({3, 4}):_flat_values(), 1e-12, "global average")
end)

-- --- batch norm ---------------------------------------------------------------------------------------

T.test("batch_norm training and eval, running statistics", function()
  for _, shape in ipairs{{6, 3}, {4, 3, 5}, {3, 2, 4, 5}} do
    local x = randn(shape):mul(2):add(1)
    local C = shape[2]
    local w, b = randn({C}), randn({C})
    local rm, rv = randn({C}), lt.rand({C}, D):add(0.5)
    local rm0, rv0 = rm:_flat_values(), rv:_flat_values()
    local y = F.batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5)
    -- reference: per channel over every other dim
    local dims = {1}
    for d = 3, #shape do dims[#dims + 1] = d end
    local mean, var = x:mean(dims, true), x:var(dims, {correction = 0, keepdim = true})
    local vshape = {1, C}
    for _ = 3, #shape do vshape[#vshape + 1] = 1 end
    local ref = (x - mean) / (var + 1e-5):sqrt() * w:view(vshape) + b:view(vshape)
    close(y, ref:_flat_values(), 1e-10, "train " .. shape_str(shape))
    local m, uv = mean:_flat_values(), x:var(dims, {correction = 1}):_flat_values()
    local erm, erv = {}, {}
    for c = 1, C do
      erm[c] = 0.9 * rm0[c] + 0.1 * m[c]
      erv[c] = 0.9 * rv0[c] + 0.1 * uv[c]
    end
    close(rm, erm, 1e-12, "running_mean update")
    close(rv, erv, 1e-12, "running_var update (unbiased)")
    -- eval uses the running statistics and changes nothing
    local rm1 = rm:_flat_values()
    local ye = F.batch_norm(x, rm, rv, {weight = w, bias = b, training = false, eps = 1e-3})
    local eref = (x - rm:view(vshape)) / (rv:view(vshape) + 1e-3):sqrt() * w:view(vshape) + b:view(vshape)
    close(ye, eref:_flat_values(), 1e-12, "eval " .. shape_str(shape))
    close(rm, rm1, 0, "eval leaves running_mean")
  end
  -- no affine parameters, no running statistics in training
  local x = randn({5, 2, 3})
  local y = F.batch_norm(x, nil, nil, nil, nil, true)
  close(y:mean({1, 3}), {0, 0}, 1e-12, "normalised mean")
  close(y:var({1, 3}, {correction = 0}), {1 / (1 + 1e-5 / x:var({1, 3}, {correction = 0}):_flat_values()[1]),
                                          1 / (1 + 1e-5 / x:var({1, 3}, {correction = 0}):_flat_values()[2])},
        1e-9, "normalised variance")
end)

-- --- activations, linear, dropout, flatten, softmax ------------------------------------------------------

T.test("activations", function()
  local x = randn({3, 7})
  local v = x:_flat_values()
  local function map(f) local r = {} for i = 1, #v do r[i] = f(v[i]) end return r end
  local function erf(z) -- Abramowitz-Stegun is too coarse; integrate the series
    local s, term, k = 0, z, 0
    repeat
      s = s + term / (2 * k + 1)
      k = k + 1
      term = -term * z * z / k
    until math.abs(term) < 1e-17 or k > 200
    return 2 / math.sqrt(math.pi) * s
  end
  close(F.relu(x), map(function(a) return a > 0 and a or 0 end), 0, "relu")
  close(F.leaky_relu(x, 0.2), map(function(a) return a > 0 and a or 0.2 * a end), 0, "leaky_relu")
  close(F.leaky_relu(x), map(function(a) return a > 0 and a or 0.01 * a end), 0, "leaky_relu default slope")
  close(F.leaky_relu(x, {negative_slope = -0.5}), map(function(a) return a > 0 and a or -0.5 * a end), 0,
        "leaky_relu options")
  close(F.gelu(x), map(function(a) return 0.5 * a * (1 + erf(a / math.sqrt(2))) end), 1e-12, "gelu")
  local k = math.sqrt(2 / math.pi)
  close(F.gelu(x, "tanh"), map(function(a) return 0.5 * a * (1 + math.tanh(k * (a + 0.044715 * a ^ 3))) end), 1e-12,
        "gelu tanh")
  close(F.gelu(x, {approximate = "tanh"}), F.gelu(x, "tanh"):_flat_values(), 0, "gelu options table")
  close(F.silu(x), map(function(a) return a / (1 + math.exp(-a)) end), 1e-12, "silu")
  -- in place
  local c = x:clone()
  local r = F.relu_(c)
  T.check(r == c or lt.shares_storage(r, c), "relu_ returns its argument")
  close(c, map(function(a) return a > 0 and a or 0 end), 0, "relu_ writes in place")
  local c2 = x:clone()
  F.relu(c2, {inplace = true})
  close(c2, map(function(a) return a > 0 and a or 0 end), 0, "relu inplace option")
  local c3 = x:clone()
  F.silu(c3, true)
  close(c3, map(function(a) return a / (1 + math.exp(-a)) end), 1e-12, "silu inplace")
  -- float32 keeps its dtype
  T.check(F.gelu(x:float()):dtype() == "float32", "gelu float32")
end)

T.test("linear", function()
  local x, w, b = randn({2, 3, 5}), randn({4, 5}), randn({4})
  local y = F.linear(x, w, b)
  same_shape(y, {2, 3, 4}, "linear shape")
  close(y, (x:matmul(w:t()) + b):_flat_values(), 1e-12, "linear 3-D input")
  close(F.linear(x, w), x:matmul(w:t()):_flat_values(), 1e-12, "linear without bias")
  local x1 = randn({5})
  same_shape(F.linear(x1, w, b), {4}, "1-D input")
  close(F.linear(x1, w, b), (w:matmul(x1) + b):_flat_values(), 1e-12, "linear 1-D input")
  local xt = randn({5, 6}):t()
  close(F.linear(xt, w, b), (xt:matmul(w:t()) + b):_flat_values(), 1e-12, "non-contiguous input")
end)

T.test("dropout", function()
  local x = lt.ones({200, 100}, D)
  lt.manual_seed(7)
  local y = F.dropout(x, 0.3)
  local v = y:_flat_values()
  local zeros, kept = 0, 0
  for i = 1, #v do
    if v[i] == 0 then zeros = zeros + 1 elseif math.abs(v[i] - 1 / 0.7) < 1e-12 then kept = kept + 1 end
  end
  T.check(zeros + kept == #v, "every element is 0 or 1/(1-p)")
  T.close(zeros / #v, 0.3, 0.02, "fraction dropped")
  lt.manual_seed(7)
  close(F.dropout(x, {p = 0.3}), v, 0, "same seed, same mask")
  T.check(F.dropout(x, 0.3, false) == x, "eval: the input itself")
  T.check(F.dropout(x, {p = 0.5, training = false}) == x, "eval via options")
  close(F.dropout(x, 1.0), lt.zeros({200 * 100}, D):_flat_values(), 0, "p = 1 drops everything")
  local c = x:clone()
  F.dropout(c, 0.5, true, true)
  local cv = c:_flat_values()
  local ok = true
  for i = 1, #cv do ok = ok and (cv[i] == 0 or cv[i] == 2) end
  T.check(ok, "in-place dropout writes the input")
  T.check(F.dropout(lt.ones({10}), 0.5):dtype() == "float32", "float32 mask")
end)

T.test("flatten, softmax, log_softmax", function()
  local x = randn({2, 3, 4})
  same_shape(F.flatten(x), {24}, "flatten all")
  same_shape(F.flatten(x, 2), {2, 12}, "flatten from dim 2")
  same_shape(F.flatten(x, 1, 2), {6, 4}, "flatten dims 1..2")
  for _, dim in ipairs{1, 2, 3, -1} do
    local d = dim < 0 and 3 + dim + 1 or dim
    local e = x:exp()
    local ref = e / e:sum(d, true)
    close(F.softmax(x, dim), ref:_flat_values(), 1e-12, "softmax dim " .. dim)
    close(F.log_softmax(x, dim), ref:log():_flat_values(), 1e-12, "log_softmax dim " .. dim)
    close(x:softmax(dim), ref:_flat_values(), 1e-12, "t:softmax")
  end
  -- large logits stay finite
  local big = lt.tensor({{1000, 0, -1000}}, D)
  close(F.log_softmax(big, 2), {0, -1000, -2000}, 1e-12, "stable log_softmax")
  close(F.softmax(big, 2), {1, 0, 0}, 1e-12, "stable softmax")
end)

-- --- losses -------------------------------------------------------------------------------------------------

T.test("cross_entropy and nll_loss", function()
  local N, C = 7, 5
  local logits = randn({N, C})
  local labels = {3, 1, 5, 2, 2, 4, 5}
  local target = lt.tensor(labels, {dtype = "int64"})
  local w = lt.rand({C}, D):add(0.5)
  for _, red in ipairs{"mean", "sum", "none"} do
    for _, ls in ipairs{0, 0.1} do
      for _, weighted in ipairs{false, true} do
        local opts = {reduction = red, label_smoothing = ls, weight = weighted and w or nil}
        local got = F.cross_entropy(logits, target, opts)
        local what = string.format("cross_entropy %s ls=%g weight=%s", red, ls, tostring(weighted))
        same_shape(got, red == "none" and {N} or {}, what)
        close(got, ce_ref(logits, labels, opts), 1e-12, what)
      end
    end
    local nll = F.nll_loss(F.log_softmax(logits, 2), target, {reduction = red, weight = w})
    close(nll, ce_ref(logits, labels, {reduction = red, weight = w}), 1e-12, "nll_loss " .. red)
  end
  -- ignore_index (a label value) drops samples from the sum and the mean's denominator
  local tl = {3, 1, 5, 2, 2, 4, 5}
  tl[2], tl[5] = 0, 0
  local ti = lt.tensor(tl, {dtype = "int64"})
  close(F.cross_entropy(logits, ti, {ignore_index = 0, weight = w, label_smoothing = 0.2}),
        ce_ref(logits, tl, {ignore_index = 0, weight = w, label_smoothing = 0.2}), 1e-12, "ignore_index")
  close(F.cross_entropy(logits, ti, {ignore_index = 0, reduction = "none"}),
        ce_ref(logits, tl, {ignore_index = 0, reduction = "none"}), 1e-12, "ignore_index, none")
  -- [N, C, d] input with [N, d] target equals the permuted [N*d, C] problem
  local x3 = randn({2, 4, 3})
  local t3 = lt.tensor({{1, 4, 2}, {3, 3, 1}}, {dtype = "int64"})
  local flat = x3:permute({1, 3, 2}):reshape(6, 4)
  close(F.cross_entropy(x3, t3), ce_ref(flat, {1, 4, 2, 3, 3, 1}, {}), 1e-12, "spatial cross_entropy")
  same_shape(F.cross_entropy(x3, t3, {reduction = "none"}), {2, 3}, "spatial none shape")
  -- a single sample: [C] input, 0-d target
  local one = randn({C})
  close(F.cross_entropy(one, lt.tensor(4, {dtype = "int64"})), ce_ref(one:view(1, C), {4}, {}), 1e-12, "1-D input")
  -- float32
  close(F.cross_entropy(logits:float(), target), ce_ref(logits, labels, {}), 1e-6, "float32 cross_entropy")
end)

T.test("mse_loss, l1_loss, binary_cross_entropy_with_logits", function()
  local x, y = randn({3, 4}), randn({3, 4})
  local xv, yv = x:_flat_values(), y:_flat_values()
  local function reduce(per, red)
    if red == "none" then return per end
    local s = 0
    for i = 1, #per do s = s + per[i] end
    return {red == "sum" and s or s / #per}
  end
  for _, red in ipairs{"mean", "sum", "none"} do
    local mse, l1 = {}, {}
    for i = 1, #xv do mse[i], l1[i] = (xv[i] - yv[i]) ^ 2, math.abs(xv[i] - yv[i]) end
    close(F.mse_loss(x, y, red), reduce(mse, red), 1e-12, "mse_loss " .. red)
    close(F.mse_loss(x, y, {reduction = red}), reduce(mse, red), 1e-12, "mse_loss options " .. red)
    close(F.l1_loss(x, y, red), reduce(l1, red), 1e-12, "l1_loss " .. red)
  end
  -- BCE with logits: targets in [0, 1], pos_weight per class (last dim), weight broadcast
  local t = lt.rand({3, 4}, D)
  local tv = t:_flat_values()
  local pw, w = lt.tensor({0.5, 1, 2, 3}, D), lt.tensor({{1}, {2}, {0.5}}, D)
  local pwv, wv = pw:_flat_values(), w:_flat_values()
  for _, red in ipairs{"mean", "sum", "none"} do
    local per, perw = {}, {}
    for i = 1, #xv do
      local a, b = xv[i], tv[i]
      local sig = 1 / (1 + math.exp(-a))
      per[i] = -(b * math.log(sig) + (1 - b) * math.log(1 - sig))
      local p = pwv[(i - 1) % 4 + 1]
      perw[i] = -(p * b * math.log(sig) + (1 - b) * math.log(1 - sig)) * wv[(i - 1) // 4 + 1]
    end
    close(F.binary_cross_entropy_with_logits(x, t, {reduction = red}), reduce(per, red), 1e-12, "bce " .. red)
    close(F.binary_cross_entropy_with_logits(x, t, {reduction = red, pos_weight = pw, weight = w}), reduce(perw, red),
          1e-12, "bce weighted " .. red)
  end
  -- stable for large logits
  local big = lt.tensor({800, -800}, D)
  close(F.binary_cross_entropy_with_logits(big, lt.tensor({0, 1}, D), "none"), {800, 800}, 1e-12, "bce stable")
end)

-- --- errors --------------------------------------------------------------------------------------------------

T.test("bad arguments", function()
  local x4, w = lt.randn(8, 1, 32, 32), lt.randn(64, 3, 3, 3)
  T.checkerr("bad argument #2 to 'conv2d' (weight [64,3,3,3] expects 3 input channels, input [8,1,32,32] has 1)",
             F.conv2d, x4, w)
  T.checkerr("bad argument #1 to 'conv2d' (expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] input, "
             .. "got [32,32])", F.conv2d, lt.randn(32, 32), w)
  T.checkerr("bad argument #2 to 'conv2d' (expected 4-D weight", F.conv2d, lt.randn(1, 3, 8, 8), lt.randn(3, 3))
  T.checkerr("bias [10] does not match the 64 output channels of weight [64,3,3,3]", F.conv2d, lt.randn(1, 3, 8, 8), w,
             lt.randn(10))
  T.checkerr("bad argument #4 to 'conv2d' (stride must be at least 1, got 0)", F.conv2d, lt.randn(1, 3, 8, 8), w, nil,
             {stride = 0})
  T.checkerr("bad argument #4 to 'conv2d' (unknown option 'strides'", F.conv2d, lt.randn(1, 3, 8, 8), w, nil,
             {strides = 2})
  T.checkerr("with groups=2 expects 6 input channels, input [1,3,8,8] has 3", F.conv2d, lt.randn(1, 3, 8, 8), w, nil,
             {groups = 2})
  T.checkerr("is smaller than the kernel", F.conv2d, lt.randn(1, 3, 2, 2), w)
  T.checkerr("bad argument #2 to 'conv2d' (weight has dtype float64 but the input has float32)", F.conv2d,
             lt.randn(1, 3, 8, 8), w:double())
  T.checkerr("bad argument #1 to 'conv2d' (expected a floating-point input, got int64)", F.conv2d,
             lt.zeros({1, 3, 8, 8}, {dtype = "int64"}), w)
  T.checkerr("padding must be an integer, a pair {h, w}, 'same' or 'valid', got 'full'", F.conv2d,
             lt.randn(1, 3, 8, 8), w, nil, {padding = "full"})
  T.checkerr("padding='same' is not supported for strided convolutions", F.conv2d, lt.randn(1, 3, 8, 8), w, nil,
             {padding = "same", stride = 2})
  -- linear
  T.checkerr("bad argument #2 to 'linear' (input [4,100] has 100 features but weight [10,50] expects 50)", F.linear,
             lt.randn(4, 100), lt.randn(10, 50))
  T.checkerr("bad argument #3 to 'linear' (bias [5] does not match the 10 outputs of weight [10,50]", F.linear,
             lt.randn(4, 50), lt.randn(10, 50), lt.randn(5))
  -- batch norm
  T.checkerr("bad argument #2 to 'batch_norm' (running_mean [4] does not match the 3 channels of input [2,3,4,4]",
             F.batch_norm, lt.randn(2, 3, 4, 4), lt.zeros(4), lt.ones(3))
  T.checkerr("expected more than 1 value per channel when training, got input [1,3]", F.batch_norm, lt.randn(1, 3),
             nil, nil, nil, nil, true)
  T.checkerr("running_mean and running_var are required in evaluation mode", F.batch_norm, lt.randn(2, 3))
  T.checkerr("bad argument #1 to 'batch_norm' (expected input [N,C] or [N,C,...] (at least 2-D), got [5])",
             F.batch_norm, lt.randn(5), lt.zeros(5), lt.ones(5))
  T.checkerr("bad argument #4 to 'batch_norm' (weight [2] does not match", F.batch_norm, lt.randn(2, 3), lt.zeros(3),
             lt.ones(3), {weight = lt.ones(2)})
  -- pooling
  T.checkerr("bad argument #3 to 'max_pool2d' (padding 2 should be at most half of kernel size 3)", F.max_pool2d,
             lt.randn(1, 1, 8, 8), 3, {padding = 2})
  T.checkerr("bad argument #1 to 'max_pool2d' (expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] "
             .. "input, got [8,8])", F.max_pool2d, lt.randn(8, 8), 2)
  T.checkerr("bad argument #2 to 'max_pool2d' (kernel_size is required)", F.max_pool2d, lt.randn(1, 1, 4, 4))
  T.checkerr("is too small for a 5x5 window", F.avg_pool2d, lt.randn(1, 1, 3, 3), 5)
  T.checkerr("bad argument #3 to 'avg_pool2d' (divisor_override must be positive, got 0)", F.avg_pool2d,
             lt.randn(1, 1, 4, 4), 2, {divisor_override = 0})
  T.checkerr("bad argument #2 to 'adaptive_avg_pool2d' (output_size must be positive, got 0x2)", F.adaptive_avg_pool2d,
             lt.randn(1, 1, 4, 4), {0, 2})
  -- softmax
  T.checkerr("bad argument #2 to 'softmax' (dimension 3 out of range", F.softmax, lt.randn(2, 3), 3)
  T.checkerr("bad argument #2 to 'log_softmax' (dim is required", F.log_softmax, lt.randn(2, 3))
  -- losses
  local logits = lt.randn(6, 10)
  T.checkerr("bad argument #2 to 'cross_entropy' (target 11 at position 4 is out of range 1..10)", F.cross_entropy,
             logits, lt.tensor({1, 2, 3, 11, 5, 6}, {dtype = "int64"}))
  T.checkerr("(target 0 at position 1 is out of range 1..10)", F.cross_entropy, logits,
             lt.tensor({0, 2, 3, 4, 5, 6}, {dtype = "int64"}))
  T.checkerr("bad argument #2 to 'cross_entropy' (expected target of shape [6] for input [6,10], got [6,1])",
             F.cross_entropy, logits, lt.ones({6, 1}, {dtype = "int64"}))
  T.checkerr("bad argument #2 to 'cross_entropy' (expected an int64 target of class labels, got float32 target [6])",
             F.cross_entropy, logits, lt.ones(6))
  T.checkerr("bad argument #3 to 'cross_entropy' (reduction must be 'mean', 'sum' or 'none', got 'avg')",
             F.cross_entropy, logits, lt.ones({6}, {dtype = "int64"}), {reduction = "avg"})
  T.checkerr("bad argument #3 to 'cross_entropy' (label_smoothing must be in [0, 1], got 1.5)", F.cross_entropy,
             logits, lt.ones({6}, {dtype = "int64"}), {label_smoothing = 1.5})
  T.checkerr("bad argument #3 to 'cross_entropy' (weight [3] does not match the 10 classes of input [6,10]",
             F.cross_entropy, logits, lt.ones({6}, {dtype = "int64"}), {weight = lt.ones(3)})
  T.checkerr("bad argument #2 to 'nll_loss' (target 12 at position 2", F.nll_loss, logits,
             lt.tensor({1, 12, 1, 1, 1, 1}, {dtype = "int64"}))
  -- mse_loss/l1_loss broadcast and promote as PyTorch's (test_torch_semantics.lua); shapes that don't
  -- broadcast are an error
  T.checkerr("bad argument #2 to 'mse_loss' (shapes [6,2] and [6] cannot be broadcast together)", F.mse_loss,
             lt.randn(6, 2), lt.randn(6))
  T.checkerr("bad argument #3 to 'binary_cross_entropy_with_logits' (pos_weight [3] cannot be broadcast to input [2,4])",
             F.binary_cross_entropy_with_logits, lt.randn(2, 4), lt.rand(2, 4), {pos_weight = lt.ones(3)})
  -- activations and dropout
  T.checkerr("bad argument #2 to 'dropout' (dropout probability must be in [0, 1], got 1.5)", F.dropout,
             lt.randn(3), 1.5)
  T.checkerr("bad argument #2 to 'gelu' (approximate must be 'none' or 'tanh', got sigmoid)", F.gelu, lt.randn(3),
             "sigmoid")
  T.checkerr("bad argument #2 to 'relu' (unknown option 'in_place'", F.relu, lt.randn(3), {in_place = true})
  local leaf = lt.randn(3)
  leaf.requires_grad = true
  T.checkerr("a leaf tensor that requires grad is used in an in-place operation (relu_)", F.relu_, leaf)
  T.checkerr("bad argument #1 to 'relu' (expected a tensor, got number)", F.relu, 3)
end)

os.exit(T.done())
