"""Width against depth at fixed parameter budgets: a keras-tuner study."""
