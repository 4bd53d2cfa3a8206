-- Scenario 1: a ROWS window without PARTITION BY: a moving average over the last 101 rows of
-- the single global order (runs on one shard to keep that order).
SELECT value, AVG(price) OVER (ORDER BY event_time ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) AS moving_avg FROM market_data;
