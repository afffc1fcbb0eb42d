"""Place notices: the public list of places and times a confirmed case visited (from tracing's
approved public notices and, as a historical example, the DS4C public routes)."""
