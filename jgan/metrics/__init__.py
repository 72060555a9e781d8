"""Evaluation metrics (Frechet distance, IS, KID, precision/recall, Parzen) and their feature extractors."""
