"""A STAND-IN Secret Service that takes the name org.freedesktop.secrets on the session bus and
then never answers anything: a hung (or prompting) provider, for the timeout test."""

import sys

from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection


def main() -> int:
    conn = open_dbus_connection(bus="SESSION")
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.secrets"))
    print("ready", flush=True)
    while True:
        conn.receive()  # read every call, answer none


if __name__ == "__main__":
    sys.exit(main())
