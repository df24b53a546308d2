"""MLflow records for people (`mlflow ui`): candidate runs, the registered champion, and the pyfunc model from code."""
