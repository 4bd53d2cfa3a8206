-- Scenario 0: passthrough. Exercises reading, routing (local: no shuffle) and the sink.
SELECT * FROM market_data;
