import Chronicle
import Hummingbird

extension ReadAPI {
    /// `GET /all?type=A,B`: the events of those types after `after`, through the same filter as the
    /// live feed's `type=` (``ProjectionFilter``).
    ///
    /// A page holds up to `limit` matching events, reading at most ten times the largest page of
    /// the log, so a rare type cannot make one request read the whole log: a page may then hold
    /// fewer events (even none) with a `next` to continue from. `next` is `null` once the read
    /// reached the head.
    func readAll(after: GlobalPosition, limit: Int, types: Set<String>) async throws -> Response {
        let page = try await LogSubscription.readFiltered(
            reader, after: after, filter: ProjectionFilter(eventTypes: types), limit: limit,
            scanLimit: 10 * max(limit, configuration.maximumPageSize)
        )
        let head = max(try await reader.headPosition(), page.through)
        var json = JSONOutput(capacity: 512 * page.events.count + 128)
        json.raw("{"); json.key("after"); json.integer(after.value)
        json.raw(","); json.key("head"); json.integer(head.value)
        json.raw(","); json.key("type"); json.raw("[")
        for (index, type) in types.sorted().enumerated() {
            if index > 0 { json.raw(",") }
            json.string(type)
        }
        json.raw("]")
        json.raw(","); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("events"); json.events(page.events)
        json.raw(","); json.key("next")
        if page.reachedHead { json.raw("null") } else { json.integer(page.through.value) }
        json.raw("}")
        return Response.stamped(.json(json), head)
    }
}
