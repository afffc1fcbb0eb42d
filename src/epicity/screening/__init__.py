"""Screening centres, samples, lab results; Dorfman pooling and capacity planning (issue 5)."""
