"""The event bridge: Tango events -> archive and MQTT; MQTT requests -> Tango."""
