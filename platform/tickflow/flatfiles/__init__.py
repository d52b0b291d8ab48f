"""The vendor's daily flat files (Polygon/Massive ``us_stocks_sip``) as a second source of
the raw tables: trades, quotes and minute aggregates of a day, from a local folder or S3,
written through the same validation, dead letters and idempotent writer as Kafka ingest."""
