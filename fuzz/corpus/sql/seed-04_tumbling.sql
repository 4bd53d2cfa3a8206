-- Scenario 3a: TUMBLING 1-minute windows + GROUP BY, EMIT FINAL (the default): one row per
-- group when the watermark passes its window's end. Exercises windows, watermarks and state freeing.
SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE);
