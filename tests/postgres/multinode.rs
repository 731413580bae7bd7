//! Several `marketchat serve` processes on one PostgreSQL database.
