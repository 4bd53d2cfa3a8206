-- Per-symbol statistics each minute, with late data allowed for 5 seconds.
SELECT symbol, window_start,
       COUNT(*) AS trades, COUNT(DISTINCT trader_id) AS traders,
       AVG(price) AS mean_price, STDDEV(price) AS sd_price, VAR_POP(quantity) AS var_qty
FROM market_data
GROUP BY symbol
WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)
ALLOWED LATENESS INTERVAL '5' SECOND;
