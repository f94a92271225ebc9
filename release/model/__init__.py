"""The model: pipeline construction, training, secure persistence, prediction, evaluation."""
