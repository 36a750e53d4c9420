-- SPDX-License-Identifier: MIT
-- wrk request generator for tests/bench/10_agent.sh (load generator only: the product has no
-- Lua). Cycles through the tokens listed in $BENCH_TOKENS, one per line.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
	tokens[#tokens + 1] = line
end
local i = 0
request = function()
	i = i + 1
	return wrk.format("GET", "/.well-known/acme-challenge/" .. tokens[(i % #tokens) + 1])
end
