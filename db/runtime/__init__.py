"""The station at run time: child processes and the embedded Tango database."""
