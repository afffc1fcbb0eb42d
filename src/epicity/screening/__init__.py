"""Screening: centres (walk-through, drive-through, glove wall) with opening hours, lanes and
booking slots; the walk-in queue; check-in, samples with barcodes; lab batches, individual or
in Dorfman pools; results that open confirmed cases and reach the person; turnaround against
the 6-hour target; capacity planning.

Modules: `epicity.screening.models` (tables), `epicity.screening.service` (plain functions
over a session), `epicity.screening.errors`, `epicity.screening.routes` (API) and
`epicity.screening.pages` (console); `epicity.screening.pooling` (pure Dorfman arithmetic) and
`epicity.screening.planning` (the simulated day) take plain data only.
"""

from __future__ import annotations
