"""The archive: where Readings are stored (embedded sqlite, InfluxDB 1.x, 2.x/3.x) and read back."""
