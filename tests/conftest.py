"""Test-wide fixtures: real servers (Valkey with RedisJSON/RediSearch, Postgres)."""
