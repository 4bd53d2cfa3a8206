-- A trader's burst of activity: trades less than 200 ms apart form one session.
SELECT trader_id, window_start, window_end, COUNT(*) AS trades, SUM(value) AS notional
FROM market_data
GROUP BY trader_id
WINDOW SESSION (trade_time, INTERVAL '200' MILLISECOND);
