"""clocks: a pure model of parametrized schedules. No I/O, no clock reading: times are arguments."""
