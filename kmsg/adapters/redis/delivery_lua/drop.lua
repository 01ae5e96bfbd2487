-- Shared by the delivery store's scripts (prepended to each): remove one record and its index
-- entries. KEYS[1] records hash, KEYS[2] job index hash, KEYS[3] message index hash,
-- KEYS[4] age zset (every script of the store gets these four keys, in this order).
local function drop(field)
    local raw = redis.call('HGET', KEYS[1], field)
    if raw then
        local ok, record = pcall(cjson.decode, raw)
        if ok and type(record) == 'table' then
            if type(record.job_id) == 'string'
                and redis.call('HGET', KEYS[2], record.job_id) == field then
                redis.call('HDEL', KEYS[2], record.job_id)
            end
            if type(record.message_id) == 'string'
                and redis.call('HGET', KEYS[3], record.message_id) == field then
                redis.call('HDEL', KEYS[3], record.message_id)
            end
        end
        redis.call('HDEL', KEYS[1], field)
    end
    redis.call('ZREM', KEYS[4], field)
end

local function now_ms()
    local time = redis.call('TIME')
    return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
