-- Row-level expressions: arithmetic, CASE, LIKE, NULL handling, CAST and functions.
SELECT trade_id, symbol,
       ROUND(price * quantity, 2) AS notional,
       CASE WHEN quantity >= 900 THEN 'block' WHEN quantity >= 100 THEN 'round' ELSE 'odd' END AS lot,
       symbol LIKE 'A%' AS a_symbol,
       COALESCE(NULLIF(trader_id, 'TRADER_0000'), 'house') AS counterparty,
       CAST(price AS BIGINT) AS whole_price
FROM market_data
WHERE price BETWEEN 100 AND 400 AND symbol IN ('AAPL', 'AMZN', 'MSFT', 'NVDA');
