// SQLite store tests land here (issue 2).
