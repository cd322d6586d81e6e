-- SPDX-License-Identifier: MIT
-- wrk script: pipelining. Every write sends `depth` requests at once (default 16; give another
-- depth after the URL: wrk ... -s pipeline.lua http://127.0.0.1:8080/ -- 4); wrk writes the next
-- batch when all of a batch's responses have arrived.
-- Note: wrk 4.1 times only one request per batch, so its latency figures are wrong here.

local depth = 16

function init(args)
  if args[1] ~= nil then
    depth = tonumber(args[1])
  end
  local batch = {}
  for i = 1, depth do
    batch[i] = wrk.format()
  end
  pipelined = table.concat(batch)
end

function request()
  return pipelined
end
