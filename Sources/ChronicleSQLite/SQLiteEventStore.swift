// The SQLite event store lands here (issue 2).
