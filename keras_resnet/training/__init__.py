"""Training residual networks: data pipelines, the papers' recipes, the training command."""
