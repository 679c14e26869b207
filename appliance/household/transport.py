"""UDP multicast on the LAN: one socket that sends datagrams to the group and a thread that hands every
datagram received to a callback. It sends only what it is given (nothing while the household is idle).

``interface`` is the address of the interface to use ("" = the one the default route uses); "127.0.0.1"
keeps the traffic on the loopback (devices on one machine: the tests and the benchmark). ``loss`` drops that
share of received datagrams (seeded): a packet-loss fault the tests control where netem is unavailable.
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable

from appliance.household.claim import MAX_PACKET

log = logging.getLogger(__name__)

Receive = Callable[[bytes, tuple[str, int], float], None]
"""(datagram, sender's address, monotonic time it arrived)"""


class MulticastTransport:
    def __init__(
        self,
        group: str,
        port: int,
        on_receive: Receive,
        *,
        interface: str = "",
        ttl: int = 1,
        loss: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.group, self.port, self.interface = group, port, interface
        self._on_receive, self._clock = on_receive, clock
        self.loss = loss
        self._random = random.Random(seed)
        self.sent = self.received = self.dropped = 0
        self.bytes_sent = 0
        self._closed = threading.Event()
        self._rx = self._receiver()
        self._tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        self._tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)  # devices on this machine hear it
        if interface:
            self._tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        self._thread = threading.Thread(target=self._loop, name="household-rx", daemon=True)

    def _receiver(self) -> socket.socket:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # several devices on one machine
            rx.bind(("", self.port))
            local = socket.inet_aton(self.interface or "0.0.0.0")
            membership = struct.pack("4s4s", socket.inet_aton(self.group), local)
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            rx.settimeout(0.5)
        except OSError:
            rx.close()
            raise
        return rx

    def start(self) -> MulticastTransport:
        self._thread.start()
        return self

    def send(self, data: bytes) -> None:
        """Multicast one datagram; raises OSError when the network is down."""
        self._tx.sendto(data, (self.group, self.port))
        self.sent += 1
        self.bytes_sent += len(data)

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                data, address = self._rx.recvfrom(MAX_PACKET + 1)  # one byte more: an oversized one is seen
            except TimeoutError:
                continue
            except OSError:
                if self._closed.is_set():
                    return
                log.warning("household: receiving failed", exc_info=True)
                time.sleep(0.5)
                continue
            arrived = self._clock()
            if self.loss and self._random.random() < self.loss:
                self.dropped += 1
                continue
            self.received += 1
            try:
                self._on_receive(data, address, arrived)
            except Exception:
                log.exception("household: handling a datagram failed")

    def close(self) -> None:
        self._closed.set()
        try:
            self._rx.shutdown(socket.SHUT_RDWR)  # wakes the receiving thread now, not at its next timeout
        except OSError:
            pass
        for sock in (self._rx, self._tx):
            try:
                sock.close()
            except OSError:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)
