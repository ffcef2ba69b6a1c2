"""Shared Tango plumbing of the device classes: event declarations, state mapping, pushing."""

from __future__ import annotations

from tango import AttrQuality, DevState
from tango.server import Device, attribute

from devices.property_checks import refuse_bad_properties

STATES = {
    "INIT": DevState.INIT,
    "OFF": DevState.OFF,
    "ON": DevState.ON,
    "MOVING": DevState.MOVING,
    "ALARM": DevState.ALARM,
    "FAULT": DevState.FAULT,
}


def events(abs_change: float | None = None) -> dict:
    """Pushed change and archive events with Tango's own filtering.

    The defaults only keep noise off the wire; the station file sets the
    deadbands and the archive period per attribute.
    """
    criteria = {} if abs_change is None else {
        "abs_change": abs_change,
        "archive_abs_change": abs_change,
        "archive_period": 10000,
    }
    return dict(
        change_event_implemented=True,
        change_event_detect=True,
        archive_event_implemented=True,
        archive_event_detect=True,
        **criteria,
    )


HEARTBEAT = "heartbeat"


class HeartbeatDevice(Device):
    """A device whose poll loop beats: ``heartbeat`` counts its polls and goes out as a change
    event at every one, on the same ZMQ event channel as the readings. A subscriber that stops
    receiving it knows that the channel is dead even when the device still answers calls and its
    readings do not change (change events of a constant value never come): the interlock counts
    such a device's inputs as stale, so unsafe."""

    @attribute(dtype=int, doc="polls done since the device started; a change event at each poll (liveness)",
               change_event_implemented=True, change_event_detect=False)
    def heartbeat(self) -> int:
        return getattr(self, "_beats", 0)

    def beat(self) -> None:
        self._beats = getattr(self, "_beats", 0) + 1
        self.push_change_event(HEARTBEAT, self._beats)


def quality(valid: bool) -> AttrQuality:
    return AttrQuality.ATTR_VALID if valid else AttrQuality.ATTR_INVALID


def publish_state(device, state_name: str, status: str, previous_status: str | None) -> None:
    """Set and push State/Status when they changed (both push change events)."""
    state = STATES[state_name]
    if state != device.get_state():
        device.set_state(state)
        device.push_change_event("State", state)
    if status != previous_status:
        device.set_status(status)
        device.push_change_event("Status", status)


def push(device, name: str, value, stamp: float, attr_quality: AttrQuality) -> None:
    device.push_change_event(name, value, stamp, attr_quality)
    device.push_archive_event(name, value, stamp, attr_quality)


def own_properties(device) -> dict:
    """The device's property values (from the database, else the class defaults)."""
    return {name: getattr(device, name) for name in type(device).TangoClassClass.device_property_list}


def start_manager(device, make_manager):
    """Common start of an instrument device: INIT, State/Status events, then the component
    manager that ``make_manager()`` builds (FAULT with the reason when the configuration is wrong)."""
    device.set_state(DevState.INIT)
    device.set_status("connecting to the instrument")
    for name in ("State", "Status"):
        device.set_change_event(name, True, False)
    try:
        if not device.model or not device.resource:
            raise ValueError("the device properties 'model' and 'resource' must be set")
        refuse_bad_properties(type(device).__name__, own_properties(device))
        manager = make_manager()
    except ValueError as exc:
        device.set_state(DevState.FAULT)
        device.set_status(f"configuration error: {exc}")
        return None
    manager.start()
    return manager


def stop_manager(manager) -> None:
    if manager is not None:
        manager.stop()
        manager.driver.close()
