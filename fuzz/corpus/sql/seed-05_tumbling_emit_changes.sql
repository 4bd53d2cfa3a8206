-- Scenario 3b: TUMBLING + GROUP BY + EMIT CHANGES: the group's updated row after every record
-- (one output row per input row). Exercises per-key order end to end and output volume.
SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE) EMIT CHANGES;
