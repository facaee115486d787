import Chronicle

/// The read API's JSON writer: the core's ``EventJSONWriter``, so HTTP answers and the
/// `chronicle` command's JSON lines write events the same way.
typealias JSONOutput = EventJSONWriter
