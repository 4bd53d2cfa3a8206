-- Running per-trader counts in 30-second windows every 10 seconds, updated on every trade.
SELECT trader_id, window_start, COUNT(*) AS trades, AVG(price) AS avg_price
FROM market_data
GROUP BY trader_id
WINDOW HOPPING (trade_time, INTERVAL '30' SECOND, INTERVAL '10' SECOND)
EMIT CHANGES;
