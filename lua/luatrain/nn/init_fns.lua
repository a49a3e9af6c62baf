-- luatrain.nn.init_fns — `lt.nn.init`: PyTorch's weight initialisers
-- (torch.nn.init) with the same formulas and argument names. Each fills its
-- tensor in place, without recording gradients, and returns it. Random values
-- come from the global Philox generator (lt.manual_seed), drawn with
-- lt.rand/lt.randn in the tensor's dtype and on its device; the exact streams
-- differ from PyTorch's (different generators), the distributions do not.
--
--   init.kaiming_normal_(w, {mode = "fan_out", nonlinearity = "relu"})
--   init.kaiming_uniform_(w, {a = math.sqrt(5)})   -- or kaiming_uniform_(w, math.sqrt(5))
--   init.uniform_(b, -0.1, 0.1); init.constant_(bn.weight, 1); init.zeros_(bn.bias)
--
-- Not here: orthogonal_, sparse_, eye_/dirac_ (not needed by the models yet).
local lt = require "luatrain.core"

local M = {}

local no_grad = lt.no_grad

local function check_tensor(fname, t)
  if not lt.is_tensor(t) then error(string.format("%s: expected a tensor, got %s", fname, type(t)), 3) end
  if not t:is_floating_point() then
    error(string.format("%s: expected a floating-point tensor, got %s", fname, t:dtype()), 3)
  end
end

local function check_number(fname, what, v, default)
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v then
    error(string.format("%s: %s must be a number, got %s", fname, what, tostring(v)), 3)
  end
  return v
end

-- Positional arguments, or one options table in their place.
local function args(fname, names, ...)
  local first = select(1, ...)
  if type(first) == "table" and select("#", ...) == 1 then
    local allowed = {}
    for _, n in ipairs(names) do allowed[n] = true end
    for k in pairs(first) do
      if not allowed[k] then
        error(string.format("%s: unknown option '%s' (allowed: %s)", fname, tostring(k), table.concat(names, ", ")), 3)
      end
    end
    return first
  end
  local o = {}
  for i, n in ipairs(names) do o[n] = select(i, ...) end
  return o
end

local function like(t) return {dtype = t:dtype(), device = t:device()} end

--- calculate_gain(nonlinearity, param): the recommended gain for a
--- nonlinearity (PyTorch's table; param is leaky_relu's negative slope).
function M.calculate_gain(nonlinearity, param)
  local linear = {linear = true, conv1d = true, conv2d = true, conv3d = true, conv_transpose1d = true,
                  conv_transpose2d = true, conv_transpose3d = true, sigmoid = true}
  if linear[nonlinearity] then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "leaky_relu" then
    local slope = 0.01
    if param ~= nil then
      if type(param) ~= "number" then
        error("calculate_gain: negative_slope " .. tostring(param) .. " is not a valid number", 2)
      end
      slope = param
    end
    return math.sqrt(2 / (1 + slope * slope))
  end
  if nonlinearity == "selu" then return 3 / 4 end
  error("calculate_gain: unsupported nonlinearity " .. tostring(nonlinearity) ..
        " (expected linear, conv1d, conv2d, conv3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, selu)", 2)
end

--- fan_in, fan_out of a weight [out, in, k...] (the receptive field counts).
function M._calculate_fan_in_and_fan_out(t)
  local d = t:dim()
  if d < 2 then
    error("fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (got shape [" ..
          table.concat(t:shape(), ",") .. "])", 3)
  end
  local rf = 1
  for i = 3, d do rf = rf * t:size(i) end
  return t:size(2) * rf, t:size(1) * rf
end

local function fan(t, mode, fname)
  mode = mode or "fan_in"
  if mode ~= "fan_in" and mode ~= "fan_out" then
    error(string.format("%s: mode %s not supported, please use one of fan_in, fan_out", fname, tostring(mode)), 3)
  end
  local fin, fout = M._calculate_fan_in_and_fan_out(t)
  return mode == "fan_in" and fin or fout
end

--- uniform_(t, a=0, b=1): values from U(a, b).
function M.uniform_(t, ...)
  check_tensor("uniform_", t)
  local o = args("uniform_", {"a", "b"}, ...)
  local a, b = check_number("uniform_", "a", o.a, 0), check_number("uniform_", "b", o.b, 1)
  if a > b then error(string.format("uniform_: expected a <= b, got a=%s, b=%s", a, b), 2) end
  if t:numel() == 0 then return t end
  no_grad(function() t:copy_(lt.rand(t:shape(), like(t)):mul_(b - a):add_(a)) end)
  return t
end

--- normal_(t, mean=0, std=1): values from N(mean, std²).
function M.normal_(t, ...)
  check_tensor("normal_", t)
  local o = args("normal_", {"mean", "std"}, ...)
  local mean, std = check_number("normal_", "mean", o.mean, 0), check_number("normal_", "std", o.std, 1)
  if std < 0 then error("normal_: std must be non-negative, got " .. std, 2) end
  if t:numel() == 0 then return t end
  no_grad(function() t:copy_(lt.randn(t:shape(), like(t)):mul_(std):add_(mean)) end)
  return t
end

--- trunc_normal_(t, mean=0, std=1, a=-2, b=2): N(mean, std²) conditioned on
--- [a, b] (values outside are drawn again until none is left).
function M.trunc_normal_(t, ...)
  check_tensor("trunc_normal_", t)
  local o = args("trunc_normal_", {"mean", "std", "a", "b"}, ...)
  local mean = check_number("trunc_normal_", "mean", o.mean, 0)
  local std = check_number("trunc_normal_", "std", o.std, 1)
  local a = check_number("trunc_normal_", "a", o.a, -2)
  local b = check_number("trunc_normal_", "b", o.b, 2)
  if std <= 0 then error("trunc_normal_: std must be positive, got " .. std, 2) end
  if not (a < b) then error(string.format("trunc_normal_: expected a < b, got a=%s, b=%s", a, b), 2) end
  -- rejection needs the interval to carry real probability mass
  if (b - mean) / std < -6 or (a - mean) / std > 6 then
    error(string.format("trunc_normal_: [a, b] = [%s, %s] lies more than 6 std from the mean", a, b), 2)
  end
  if t:numel() == 0 then return t end
  no_grad(function()
    local x = lt.randn(t:shape(), like(t)):mul_(std):add_(mean)
    for _ = 1, 1000 do
      local bad = x:lt(a):logical_or(x:gt(b))
      if not bad:any():item() then break end
      x = lt.where(bad, lt.randn(t:shape(), like(t)):mul_(std):add_(mean), x)
    end
    t:copy_(x:clamp(a, b))
  end)
  return t
end

--- constant_(t, val), zeros_(t), ones_(t).
function M.constant_(t, val)
  check_tensor("constant_", t)
  if type(val) ~= "number" then error("constant_: val must be a number, got " .. type(val), 2) end
  no_grad(function() t:fill_(val) end)
  return t
end

function M.zeros_(t)
  check_tensor("zeros_", t)
  no_grad(function() t:zero_() end)
  return t
end

function M.ones_(t)
  check_tensor("ones_", t)
  no_grad(function() t:fill_(1) end)
  return t
end

--- xavier_uniform_(t, gain=1): U(-a, a), a = gain·sqrt(6 / (fan_in + fan_out)).
function M.xavier_uniform_(t, ...)
  check_tensor("xavier_uniform_", t)
  local o = args("xavier_uniform_", {"gain"}, ...)
  local gain = check_number("xavier_uniform_", "gain", o.gain, 1)
  local fin, fout = M._calculate_fan_in_and_fan_out(t)
  local std = gain * math.sqrt(2 / (fin + fout))
  local a = math.sqrt(3) * std
  return M.uniform_(t, -a, a)
end

--- xavier_normal_(t, gain=1): N(0, std²), std = gain·sqrt(2 / (fan_in + fan_out)).
function M.xavier_normal_(t, ...)
  check_tensor("xavier_normal_", t)
  local o = args("xavier_normal_", {"gain"}, ...)
  local gain = check_number("xavier_normal_", "gain", o.gain, 1)
  local fin, fout = M._calculate_fan_in_and_fan_out(t)
  return M.normal_(t, 0, gain * math.sqrt(2 / (fin + fout)))
end

local function kaiming_std(fname, t, o)
  local a = check_number(fname, "a", o.a, 0)
  local nl = o.nonlinearity or "leaky_relu"
  local f = fan(t, o.mode, fname)
  if f == 0 then return nil end
  local ok, gain = pcall(M.calculate_gain, nl, a)
  if not ok then error(fname .. ": " .. tostring(gain):gsub("^calculate_gain: ", ""), 3) end
  return gain / math.sqrt(f)
end

--- kaiming_uniform_(t, {a=0, mode="fan_in", nonlinearity="leaky_relu"}):
--- U(-bound, bound), bound = gain·sqrt(3 / fan). Positional (t, a, mode,
--- nonlinearity) works too. PyTorch's conv/linear default is a = sqrt(5).
function M.kaiming_uniform_(t, ...)
  check_tensor("kaiming_uniform_", t)
  local o = args("kaiming_uniform_", {"a", "mode", "nonlinearity"}, ...)
  local std = kaiming_std("kaiming_uniform_", t, o)
  if not std then return t end -- zero-element tensor: nothing to fill
  local bound = math.sqrt(3) * std
  return M.uniform_(t, -bound, bound)
end

--- kaiming_normal_(t, {a=0, mode="fan_in", nonlinearity="leaky_relu"}):
--- N(0, std²), std = gain / sqrt(fan).
function M.kaiming_normal_(t, ...)
  check_tensor("kaiming_normal_", t)
  local o = args("kaiming_normal_", {"a", "mode", "nonlinearity"}, ...)
  local std = kaiming_std("kaiming_normal_", t, o)
  if not std then return t end
  return M.normal_(t, 0, std)
end

return M
