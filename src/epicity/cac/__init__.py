"""Cities Against COVID-19 (CAC): cities register, publishers post daily updates with API keys,
the public compares cities per 100,000 people; the countermeasure library and suppliers."""
