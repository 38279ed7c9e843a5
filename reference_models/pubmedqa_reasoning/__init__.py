"""Reference transformer for the ``pubmedqa-reasoning`` task (retrain: ``python -m reference_models.pubmedqa_reasoning.train``)."""
