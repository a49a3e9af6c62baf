-- luatrain — the Lua face of the library: `local lt = require "luatrain"`.
--
-- The native core ("luatrain.core", C) provides tensors and ops; this file
-- adds what is better written in Lua (printing, the nn/optim/data libraries as
-- they arrive) and returns one table. `lt` is also a global in scripts and the
-- REPL.
local lt = require "luatrain.core"

local format = require "luatrain.tensor_format"
local Tensor = debug.getregistry()["luatrain.Tensor"]
Tensor.__tostring = format.tostring
lt.Tensor = Tensor.__methods -- methods table: add your own with function lt.Tensor.foo(t, ...)
lt.set_printoptions = format.set_printoptions

lt.version = "0.1.0"
lt.autograd = require "luatrain.autograd"
lt.nn = require "luatrain.nn"
lt.models = require "luatrain.models"
lt.train = require "luatrain.train"
lt.data = require "luatrain.data"
lt.transforms = require "luatrain.transforms"
lt.optim = require "luatrain.optim"
lt.distributed = require "luatrain.distributed"
require "luatrain.cuda_graph" -- lt.cuda.graph
lt.help = require("luatrain.help").help

return lt
