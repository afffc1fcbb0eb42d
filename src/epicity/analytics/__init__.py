"""Outbreak analytics on epicity's own data and on public series.

- `data`: case tables and daily incidence from the operational database, DS4C and CSV files;
- `serial`: serial interval and onset-to-confirmation delay, with uncertainty;
- `rt`: reproduction number by the Cori method (EpiEstim's estimates), and the nowcast;
- `forecast`: quantile forecasts 1-14 days ahead, the Forecast Hub baseline, WIS scoring;
- `scan`: prospective space-time scan statistic (Kulldorff, Poisson) for hotspots;
- `risk`: attack rates and secondary attack rates by group, with confidence intervals;
- `scenario`: the synthetic city's outbreak under different response settings.

Analysts see aggregates only: nothing here returns a person's identity.
"""
