"""Models: features, XGBoost training, the model registry and point-in-time predictions."""
