"""Simulated market data, in one place: the model of a trading day and where it can go.

- in memory: :func:`tickflow.simulate.day.simulate_day` (the model; also renders Polygon
  JSON events, ``render_messages``, and writes the jumps' ground truth);
- to Kafka: :func:`tickflow.simulate.to_kafka.simulate_to_kafka` (at once, with a record
  for the demo's reconciliation) and :func:`tickflow.simulate.replay.replay` (paced at X
  times real time);
- to the tick store, bypassing Kafka: :func:`tickflow.simulate.to_store.write_simulated_day`
  (one day) and :func:`tickflow.simulate.to_store.simulate_history` (many days, derived or not);
- to vendor flat files: :mod:`tickflow.simulate.to_flatfiles`;
- to a local Polygon-protocol server (:mod:`tickflow.simulate.polygon_server`, a stand-in
  for the vendor) and through it the real feed service:
  :func:`tickflow.simulate.to_polygon_server.stream_local_feed`;
- malformed input for the dead-letter path: :func:`tickflow.simulate.bad_input.bad_messages`.

Submodules are imported one by one (nothing here), so simulating in memory does not pull in
Kafka, PostgreSQL or the derive layer."""
