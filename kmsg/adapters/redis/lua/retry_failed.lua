-- retry_failed: send dead letters of this queue back to pending, attempts reset, errors kept.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] 'all' or 'ids', ARGV[4..] job ids (ids that are not dead letters are skipped)
-- Returns: how many jobs moved.
local ids
if ARGV[3] == 'all' then
  ids = redis.call('ZRANGE', K.failed, 0, -1)
else
  ids = {}
  for i = 4, #ARGV do
    if redis.call('ZSCORE', K.failed, ARGV[i]) then ids[#ids + 1] = ARGV[i] end
  end
end
local now = now_s()
for _, id in ipairs(ids) do
  local jk = job_key(id)
  unindex(id, 'failed')
  redis.call('HDEL', jk, 'failed_at', 'lease_until', 'cancel_requested')
  redis.call('HSET', jk, 'attempts', 0, 'run_at', now)
  take_dedupe(id, jk)
  place(id, jk, 'pending', now)
end
if #ids > 0 then notify(now) end
return #ids
