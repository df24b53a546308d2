"""N-gram columns for the linear models: options, the training vocabulary, and serving's fast path to them."""
