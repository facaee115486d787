// Conformance suites land here (issue 2).
