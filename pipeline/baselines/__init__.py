"""Pre-made models scored beside the candidates for comparison only: VADER (free, a stage) and AWS Comprehend (paid)."""
