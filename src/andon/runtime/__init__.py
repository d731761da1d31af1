"""The imperative shell around the pure core: transactions, workers, clocks."""
