"""Relief: living-expense support for people ordered into isolation, rent relief and emergency
loans for businesses closed by an order or named in a public notice; eligibility checked
against epicity's own records, decided by an officer, paid through a CSV for the city's finance
system."""
