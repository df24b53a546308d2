"""One module per DVC stage: a function of its params section and its input paths that writes its outputs."""
