// The read API speaks in Chronicle's types (positions, stream ids, events); re-export them so an
// app that imports ChronicleHTTP has them without a second import.
@_exported import Chronicle
