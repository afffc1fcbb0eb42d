"""Location records: the documented table formats, their validation and the location store."""
