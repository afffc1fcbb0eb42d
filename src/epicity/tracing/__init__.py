"""Epidemiological investigation: a case's movements, its contacts, and the warnings."""
