"""Sample-quality metrics: Frechet distances and the digits classifier that scores generated digits."""
