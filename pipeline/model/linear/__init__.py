"""N-gram linear models: one feature pipeline and one serving path (a linear score over n-gram columns) for all."""
