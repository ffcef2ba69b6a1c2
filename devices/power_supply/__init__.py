"""Power-supply channels: the component manager and the Tango device."""
