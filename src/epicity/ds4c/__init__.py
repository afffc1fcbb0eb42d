"""Import of the Korean DS4C data set (cases, public routes, daily counts by province)."""
