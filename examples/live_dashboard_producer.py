# The producer of live_dashboard: publishes a made-up ACME price ten times a second.
# It needs only dash-ws and the broker's URL (DASH_WS_BROKER), in any process:
#     DASH_WS_BROKER=redis://127.0.0.1:6379/0 python -m examples live_dashboard_producer
import math
import random
import time
from datetime import datetime

import dash_ws

TOPIC = "acme-price"


def produce(hz: float = 10.0) -> None:
    price = 100.0
    while True:
        price *= math.exp(random.gauss(0, 0.002))
        stamp = datetime.now().isoformat(timespec="milliseconds")
        try:
            dash_ws.publish(TOPIC, {"time": stamp, "price": round(price, 2)})
        except dash_ws.BrokerUnavailable as error:
            print(f"not published: {error}")
        time.sleep(1 / hz)


if __name__ == "__main__":
    produce()
