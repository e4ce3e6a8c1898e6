-- workers/listen: no parameters.
-- Subscribes the worker's wake-up connection to the channel the fan-out
-- trigger notifies (only while some worker is idle; see fan_out()).
LISTEN outbound_deliveries
