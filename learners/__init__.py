"""Concrete learners: torch models on datasets that ship with scikit-learn, and their data."""
