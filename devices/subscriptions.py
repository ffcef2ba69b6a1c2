"""Event subscriptions to other devices that survive a restart of their server.

cppTango notices a restarted server only when a heartbeat is missed, 10 to 20 s
later, and only then subscribes again: for that long no event arrives. That is
too long for an interlock and loses readings in the archive. Here a watcher
thread asks the Tango database every ``watch_period`` seconds for the PID and
start date of each server it listens to (one cheap call per server, of its admin
device: a 100-module station has 321 devices on 31 servers), and subscribes a
restarted server's events again at once.

Each event is handed to the callback's ``push_event`` directly (see
``_call_directly``), not through pytango's per-event green-mode and telemetry
wrappers, on a Python thread state that cppTango's event thread keeps (see
``keep_thread_state``).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import tango

log = logging.getLogger("trackerdcs.subscriptions")

DOWN = ("down",)  # a device whose server is not exported now
ADD_LIVES_S = 1.0  # how long add() takes a server's life as asked
VERIFY_RETRIES = 10  # subscriptions that fail right after a resubscription: tried again this many turns


_kept_threads: set[int] = set()
_kept_lock = threading.Lock()
_DUMMY_THREAD = getattr(threading, "_DummyThread", ())  # what threading.current_thread() is on a thread it did not start


def keep_thread_state() -> bool:
    """Keep the calling thread's Python thread state for as long as the thread lives; True when
    the thread is one Python did not start (cppTango's event thread).

    pytango (pybind11's ``gil_scoped_acquire``) makes a new Python thread state for each event
    on cppTango's event thread and deletes it afterwards: a ``PyThreadState_New``, an mmap and
    munmap of its frame stack, and the interpreter's thread-list lock, each event (``strace -c``:
    one mmap per event). One ``PyGILState_Ensure`` that is never released keeps the state's count
    above zero, so pybind11 finds and reuses it: a plain counting subscriber went from 31-33 to
    21-22 us of CPU per event at 10k events/s (bench/count_subscriber.py --direct)."""
    ident = threading.get_ident()
    if ident not in _kept_threads:
        with _kept_lock:
            if ident not in _kept_threads:
                ctypes.pythonapi.PyGILState_Ensure()  # with the GIL held: counts, never blocks
                _kept_threads.add(ident)
    return isinstance(threading.current_thread(), _DUMMY_THREAD)


class _KeepingThreadState:
    """The callback cppTango calls until it has called it on its own event thread, whose thread
    state is then kept; from then on it calls ``push_event`` itself."""

    __slots__ = ("entry", "push_event")

    def __init__(self, entry, push_event):
        self.entry, self.push_event = entry, push_event

    def __call__(self, event) -> None:
        if keep_thread_state():
            self.entry.push_event = self.push_event
        self.push_event(event)


def _call_directly(proxy: tango.DeviceProxy, event_id: int, callback) -> bool:
    """Let cppTango call ``callback.push_event`` itself.

    pytango (10.x) wraps every event callback in its green-mode executor and a
    telemetry tracing wrapper that it rebuilds for each event (``functools.wraps``
    and ``inspect`` per call): at 10k events/s that is half of the event thread's
    time, measured with ``py-spy --native``. We use neither green modes nor
    telemetry, so the C++ callback object, which pytango keeps in the proxy's
    event map, gets the plain bound method (after the first event on cppTango's
    thread: ``_KeepingThreadState``). When this pytango keeps its callbacks
    elsewhere, nothing changes and False is returned."""
    entry = proxy.__dict__.get("_subscribed_events", {}).get(event_id)
    if entry is None or not hasattr(entry[0], "push_event"):
        return False
    entry[0].push_event = _KeepingThreadState(entry[0], callback.push_event)
    return True


_first_subscription = threading.Lock()
_consumer_made = threading.Event()


def _subscribe_event(proxy: tango.DeviceProxy, attribute: str, event_type: tango.EventType, callback) -> int:
    """A stateless subscription; a process's first one is made alone.

    cppTango makes its event consumer at a process's first subscription. Two first subscriptions
    at once (the bridge subscribes 8 devices at once) can each make one, and the loser fails with
    "Could not find event consumer for ptr" (API_InvalidArgs): seen once in CI, the bridge exited
    while starting. Once one subscription has been asked for, the consumer exists."""
    if not _consumer_made.is_set():
        with _first_subscription:
            try:
                return proxy.subscribe_event(attribute, event_type, callback, sub_mode=tango.EventSubMode.Stateless)
            finally:
                _consumer_made.set()
    return proxy.subscribe_event(attribute, event_type, callback, sub_mode=tango.EventSubMode.Stateless)


class _Verifier:
    """Stands in for a callback for a moment after a resubscription, to see whether it failed.
    cppTango can fail the first subscription to a restarted server (a stale connection to its
    admin device: OBJECT_NOT_EXIST, then "connection delayed" for the next ones) and would retry
    only 10 s later; the watcher subscribes such ones again at its next turn instead."""

    __slots__ = ("callback", "failure")

    def __init__(self, callback):
        self.callback = callback
        self.failure: str | None = None

    def push_event(self, event) -> None:
        if event.err and self.failure is None:
            error = event.errors[0] if event.errors else None
            self.failure = f"{error.reason}: {error.desc.strip().splitlines()[0]}" if error else "event error"
        self.callback.push_event(event)


@dataclass
class _Subscription:
    attribute: str
    event_type: tango.EventType
    callback: object
    event_id: int | None = None
    direct: bool = False


class EventSubscriptions:
    def __init__(self, proxy: Callable[[str], tango.DeviceProxy], database: Callable[[], tango.Database],
                 watch_period: float = 1.0, name: str = "restart-watcher"):
        self._proxy = proxy
        self._database = database
        self.watch_period = watch_period
        self._name = name
        self._by_device: dict[str, list[_Subscription]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.resubscribed = 0  # how many restarts were handled
        self._known: dict[str, tuple] = {}  # device -> its server's life when last seen
        self._verifying: dict[str, list[tuple[_Subscription, _Verifier]]] = {}  # resubscribed at the last turn
        self._retries: dict[str, int] = {}
        self._add_database: tango.Database | None = None
        self._add_lives: dict[str, tuple] = {}  # server -> its life, asked by add() since _add_lives_at
        self._add_lives_at = 0.0
        self._stale: set[str] = set()  # devices of restarted servers, unsubscribed, to subscribe again
        self._servers: dict[str, str] = {}  # device -> its server's name, as the database said once

    def add(self, device: str, attribute: str, event_type: tango.EventType, callback) -> None:
        """Subscribe now and keep it; ``callback`` has a ``push_event(event)`` method that never raises."""
        subscription = _Subscription(attribute, event_type, callback)
        with self._lock:
            first = device not in self._by_device
        if first:  # the server's life now: when it changes (up, restarted) the watcher subscribes again
            life = self._life(device)
            if life is not None:
                with self._lock:
                    self._known[device] = life
        self._subscribe(device, subscription)
        with self._lock:
            self._by_device.setdefault(device, []).append(subscription)

    @property
    def direct(self) -> int:
        """How many subscriptions skip pytango's per-event wrappers."""
        with self._lock:
            return sum(s.direct for subs in self._by_device.values() for s in subs)

    def watch(self) -> None:
        if self._watcher is None and self.watch_period > 0:
            self._watcher = threading.Thread(target=self._watch, name=self._name, daemon=True)
            self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=10)
        with self._lock:
            pending = [(device, s) for device, subs in self._by_device.items() for s in subs]
            self._by_device.clear()
        for device, subscription in pending:
            self._unsubscribe(device, subscription)

    # ------------------------------------------------------------ internals
    def _subscribe(self, device: str, subscription: _Subscription, via=None) -> None:
        """Stateless: an unreachable device is subscribed when it comes. ``via``: a stand-in
        callback (a _Verifier) until the subscription is known to work."""
        proxy = self._proxy(device)
        callback = via or subscription.callback
        subscription.event_id = _subscribe_event(proxy, subscription.attribute, subscription.event_type, callback)
        subscription.direct = _call_directly(proxy, subscription.event_id, callback)
        if not subscription.direct:
            log.warning("pytango %s: events of %s/%s go through its per-event wrappers (slower)", tango.__version__,
                        device, subscription.attribute)

    def _unsubscribe(self, device: str, subscription: _Subscription) -> None:
        if subscription.event_id is None:
            return
        try:
            self._proxy(device).unsubscribe_event(subscription.event_id)
        except tango.DevFailed:
            pass
        subscription.event_id = None

    def _life_of(self, database: tango.Database, device: str, lives: dict | None = None) -> tuple | None:
        """(server, PID, start date) of the device's server (its admin device's) while it is exported,
        DOWN while it is not, None when the database does not know the device. ``lives``: the
        servers' lives asked already in this turn."""
        try:
            server = self._servers.get(device)
            if server is None:
                server = database.get_device_info(device).ds_full_name
                with self._lock:
                    self._servers[device] = server
            if lives is not None and server in lives:
                return lives[server]
            info = database.get_device_info(f"dserver/{server}")
        except tango.DevFailed:
            return None
        life = (server, info.pid, info.started_date) if info.exported else DOWN
        if lives is not None:
            lives[server] = life
        return life

    def _life(self, device: str) -> tuple | None:
        """The same, asked from the subscribing thread (a database call, it never waits for the device).
        A server's life asked less than ADD_LIVES_S ago is taken again: subscribing a server's devices
        one after another asks the database once for it, not once per device (a restart in between
        is seen by the watcher's next turn, which subscribes again)."""
        now = time.monotonic()
        if now - self._add_lives_at > ADD_LIVES_S:
            self._add_lives, self._add_lives_at = {}, now
        try:
            if self._add_database is None:
                self._add_database = self._database()
            return self._life_of(self._add_database, device, self._add_lives)
        except tango.DevFailed:
            return None

    def _lives(self, database: tango.Database) -> dict[str, tuple]:
        """device -> its life, for the devices the database knows; a database that does not
        answer raises (the whole turn is skipped, nothing is taken as down)."""
        database.get_info()
        with self._lock:
            devices = list(self._by_device)
        lives, servers = {}, {}
        for device in devices:
            life = self._life_of(database, device, servers)
            if life is not None:
                lives[device] = life
        return lives

    def _watch(self) -> None:
        database = None
        known = self._known
        while not self._stop.wait(self.watch_period):
            try:
                database = database or self._database()
                lives = self._lives(database)
            except tango.DevFailed as error:
                log.debug("restart watcher: Tango database not answering: %s", error.args[0].desc.strip())
                continue
            self._verify()
            self._drop_restarted_servers(lives)
            for device, life in lives.items():
                with self._lock:
                    before = known.get(device)
                if device in self._stale:  # its server restarted: subscribed again once it answers
                    if life is not DOWN and self._resubscribe(device):
                        log.warning("%s: its server %s restarted (PID %s): subscribed to its events again",
                                    device, life[0], life[1])
                        self._stale.discard(device)
                        with self._lock:
                            known[device] = life
                    continue
                # a restarted server's devices are _stale (above); one that was down is up now
                if life is not DOWN and before is DOWN:
                    log.info("%s is up (server %s, PID %s): subscribing to its events", device, life[0], life[1])
                    if not self._resubscribe(device):
                        continue  # try again at the next turn
                with self._lock:
                    known[device] = life

    def _drop_restarted_servers(self, lives: dict[str, tuple]) -> None:
        """Unsubscribe every device of each restarted server at once, before any subscribes again;
        they are all subscribed again (``_stale``) as each answers.

        Tango keeps one event channel (ZMQ connection) per server while any subscription to any
        of its devices uses it, and its keep-alive thread reconnects it only 10-20 s later: a
        device subscribed again while the dead server's channel is held gets no events until then
        (seen with fixed ports in containers, and with new ports under load). With no subscription
        left the channel goes, and the next subscription connects to the new server."""
        with self._lock:
            known = dict(self._known)
            subscribed = {d: list(subs) for d, subs in self._by_device.items()}
        servers = {known[d][0] for d, life in lives.items()
                   if life is not DOWN and known.get(d) not in (None, DOWN) and known[d] != life}
        for device, subscriptions in subscribed.items():
            if device not in self._stale and known.get(device) not in (None, DOWN) and known[device][0] in servers:
                for subscription in subscriptions:
                    self._unsubscribe(device, subscription)
                self._stale.add(device)

    def _resubscribe(self, device: str) -> bool:
        """Subscribe a device's events again, once it and its admin device answer: the database
        says "exported" a moment before the server takes requests, and a stateless subscription
        that fails then is only retried by Tango 10 s later."""
        with self._lock:
            subscriptions = list(self._by_device.get(device, ()))
        try:
            proxy = self._proxy(device)
            proxy.ping()
            # the subscription itself is asked of the server's admin device, which can answer a moment
            # later than the device (seen as OBJECT_NOT_EXIST, then no events until Tango's 10 s retry)
            admin = tango.DeviceProxy(proxy.adm_name())
            admin.set_timeout_millis(1000)
            admin.ping()
        except tango.DevFailed as error:
            log.debug("%s (or its admin device) does not answer yet: %s", device, error.args[0].desc.strip())
            return False
        if not self._subscribe_verified(device, subscriptions):
            return False
        self.resubscribed += 1
        return True

    def _subscribe_verified(self, device: str, subscriptions: list[_Subscription]) -> bool:
        verifying = []
        try:
            for subscription in subscriptions:
                if self._stop.is_set():
                    return True
                self._unsubscribe(device, subscription)
                verifier = _Verifier(subscription.callback)
                self._subscribe(device, subscription, via=verifier)
                verifying.append((subscription, verifier))
        except tango.DevFailed as error:
            log.warning("subscribing to %s again failed: %s", device, error.args[0].desc.strip())
            return False
        finally:
            if verifying:
                self._verifying[device] = self._verifying.get(device, []) + verifying
        return True

    def _verify(self) -> None:
        """One turn after a resubscription: the ones that work get their own callback back (no
        stand-in left on the event path); the ones that failed are subscribed again now."""
        pending, self._verifying = self._verifying, {}
        for device, items in pending.items():
            failed = []
            for subscription, verifier in items:
                if verifier.failure is None:
                    _call_directly(self._proxy(device), subscription.event_id, subscription.callback)
                else:
                    failed.append(subscription)
            if not failed:
                self._retries.pop(device, None)
                continue
            tries = self._retries[device] = self._retries.get(device, 0) + 1
            reason = next(v.failure for s, v in items if s in failed)
            if tries > VERIFY_RETRIES or self._stop.is_set():
                log.warning("%s: %d subscription(s) still fail (%s); left to Tango's own retry", device, len(failed), reason)
                self._retries.pop(device, None)
                continue
            log.warning("%s: %d subscription(s) failed right after resubscribing (%s): subscribing again",
                        device, len(failed), reason)
            self._subscribe_verified(device, failed)
