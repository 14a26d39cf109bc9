"""Maintainer tools: ``make execute``, the seed sweep that sets metric bands, the diagrams.

Notebooks never import from here; what a learner's notebook calls lives in ``utils``.
"""
