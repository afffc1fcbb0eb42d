"""Open data: the daily figures published from the operational data (snapshots with visible
revisions), small-count protection of breakdowns, and the public dashboard and open API built
on them."""
