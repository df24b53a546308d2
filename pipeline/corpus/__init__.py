"""Corpora in and splits out: NLTK data found locally first, and the prepared splits every later stage reads."""
