-- Scenario 2: GROUP BY over the whole stream (20 traders x 10 symbols = 200 groups by
-- default); the final rows are emitted at end of input. Exercises hash routing and the group table.
SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price FROM market_data GROUP BY trader_id, symbol;
