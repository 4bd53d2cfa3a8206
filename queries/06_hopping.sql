-- Five-minute windows every minute per symbol: price range, volume and a regime label.
SELECT symbol, window_start, window_end,
       COUNT(*) AS trades, MIN(price) AS low, MAX(price) AS high, SUM(quantity) AS volume,
       CASE WHEN MAX(price) - MIN(price) > 5 THEN 'volatile' ELSE 'calm' END AS regime
FROM market_data
GROUP BY symbol
WINDOW HOPPING (trade_time, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE)
HAVING COUNT(*) >= 2;
