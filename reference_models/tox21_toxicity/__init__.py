"""Reference GIN for the ``tox21-toxicity`` task (retrain: ``python -m reference_models.tox21_toxicity.train``)."""
