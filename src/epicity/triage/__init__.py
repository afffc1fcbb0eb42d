"""Self-diagnosis: a short questionnaire, rules from the Korean case definition (data, shipped
as a versioned JSON file), a recommendation and, for testing, the nearest open screening
centres with their waits."""
