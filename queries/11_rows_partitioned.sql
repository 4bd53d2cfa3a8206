-- Per-symbol moving statistics over the last 20 trades (PARTITION BY: shards own symbols).
SELECT trade_id, symbol, price,
       AVG(price) OVER (PARTITION BY symbol ORDER BY event_time ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS ma20,
       MAX(price) OVER (PARTITION BY symbol ORDER BY event_time ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS high20
FROM market_data;
