"""Reference implementations of medgrade's bundled tasks.

Each sub-package is itself a valid submission (a ``predict.py`` with ``load_model`` and
``predict`` beside its trained weights) and carries the training script that produced
the weights, written the way a course teaches it.
"""
