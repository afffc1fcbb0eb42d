"""The synthetic city: districts, places, people, daily routines, sensors and an outbreak."""
