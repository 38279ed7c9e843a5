"""Reference MLP for the ``breast-cancer-wdbc`` task (retrain: ``python -m reference_models.breast_cancer_wdbc.train``)."""
