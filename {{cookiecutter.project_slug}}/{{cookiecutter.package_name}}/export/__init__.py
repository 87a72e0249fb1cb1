"""From a trained `.keras` model to a published, verified TF Serving version."""
