SELECT symbol, price
FROM market_data GROUP BY symbol