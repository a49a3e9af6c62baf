-- test_help.lua — lt.help prints the overview, a module's names and a
-- tensor's methods, and rejects anything else with a clear message.
local T = require "luatrain.testing"

local printed = {}
local real_print = print
print = function(...) printed[#printed + 1] = table.concat({...}, "\t") end
lt.help()
lt.help(lt.optim)
lt.help(lt.ones(1))
print = real_print

T.check(printed[1]:find("lt.nn.functional", 1, true) ~= nil, "the overview names the libraries")
T.check(printed[2]:find("SGD", 1, true) ~= nil and printed[2]:find("Adam", 1, true) ~= nil, "lt.help(lt.optim) lists the optimizers")
T.check(printed[3]:find("narrow", 1, true) ~= nil and printed[3]:find("_flat_values", 1, true) == nil,
        "lt.help(tensor) lists public methods only")
T.checkerr("bad argument #1 to 'help' (expected a module table or a tensor, got number)", lt.help, 3)
os.exit(T.done())
