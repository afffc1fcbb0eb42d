"""Data files shipped with epicity (see NOTICE)."""
